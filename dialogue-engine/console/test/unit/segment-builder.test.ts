// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, type ApiClient } from '../../src/api';
import { Scope } from '../../src/charts';
import type { Conditions } from '../../src/types';
import type { Ctx } from '../../src/views/context';
import { renderSegments, resetBuilder } from '../../src/views/segments';

vi.mock('../../src/charts', () => ({
  Scope: class {
    private readonly cleanups: (() => void)[] = [];
    readonly abort = new AbortController();
    add(c: () => void) { this.cleanups.push(c); }
    get signal() { return this.abort.signal; }
    get disposed() { return this.abort.signal.aborted; }
    dispose() { this.abort.abort(); this.cleanups.splice(0).forEach((c) => c()); }
  },
  drawChart: () => undefined,
}));

function setup(count: (c: Conditions) => number | Promise<number>) {
  const counted: Conditions[] = [];
  const api = {
    segmentCount: vi.fn(async (c: Conditions) => { counted.push(structuredClone(c)); return count(c); }),
    segmentCustomers: vi.fn(async (_c: Conditions, page: number, size: number) => ({ customers: [{ customerId: 'user-000001', valueTier: 'high', points: 12000 }], page, size, total: 1 })),
    exportSegment: vi.fn(),
    segments: vi.fn(async () => []),
    saveSegment: vi.fn(async () => undefined),
  };
  const main = document.createElement('main');
  document.body.replaceChildren(main);
  const scope = new Scope();
  const failures: unknown[] = [];
  const ctx: Ctx = {
    api: api as unknown as ApiClient,
    catalog: { stages: ['awareness', 'interest', 'consideration', 'purchase'], topics: [{ id: 'tv-oled-55', name: '55-inch OLED TV' }, { id: 'spa-gangnam', name: 'Gangnam Spa' }] },
    route: { page: 'segments', id: '', params: {} },
    main, scope,
    go: vi.fn(),
    fail: (e) => failures.push(e),
    segments: async () => [],
    topicName: (id) => id,
  };
  return { api, ctx, main, counted, scope, failures };
}

const change = (el: Element | null, value: string, event = 'change') => {
  (el as HTMLInputElement).value = value;
  el!.dispatchEvent(new Event(event, { bubbles: true }));
};
const countEl = (main: HTMLElement) => main.querySelector<HTMLElement>('#segment-count')!;

describe('segment builder', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    resetBuilder();
  });
  afterEach(() => vi.useRealTimers());

  it('counts live when a condition changes, once per pause in typing', async () => {
    const { ctx, main, counted, api, scope } = setup((c) => (c.dialogue?.[0]?.minStage === 3 ? 17 : 120));
    await renderSegments(ctx);
    await vi.advanceTimersByTimeAsync(400);
    expect(counted).toEqual([{ excludeSuppressed: true }]);

    main.querySelector<HTMLButtonElement>('[data-action="add-dialogue"]')!.click();
    const row = () => main.querySelector('[data-condition="dialogue-0"]')!;
    change(row().querySelector('[data-field="withinDays"]'), '', 'input');
    change(row().querySelector('[data-field="minStage"]'), '1');
    await vi.advanceTimersByTimeAsync(400);
    expect(countEl(main).dataset.count).toBe('120');
    expect(countEl(main).textContent).toBe('120');
    expect(counted.at(-1)).toEqual({ dialogue: [{ topic: 'tv-oled-55', minStage: 1 }], excludeSuppressed: true });

    // Three quick changes: one request, for the last state.
    const before = api.segmentCount.mock.calls.length;
    change(row().querySelector('[data-field="minStage"]'), '2');
    await vi.advanceTimersByTimeAsync(100);
    change(row().querySelector('[data-field="withinDays"]'), '1', 'input');
    await vi.advanceTimersByTimeAsync(100);
    change(row().querySelector('[data-field="withinDays"]'), '', 'input');
    change(row().querySelector('[data-field="minStage"]'), '3');
    expect(countEl(main).dataset.count).toBe('120');
    await vi.advanceTimersByTimeAsync(400);
    expect(api.segmentCount.mock.calls.length).toBe(before + 1);
    expect(counted.at(-1)).toEqual({ dialogue: [{ topic: 'tv-oled-55', minStage: 3 }], excludeSuppressed: true });
    expect(countEl(main).textContent).toBe('17');
    expect(main.querySelector('[data-customer="user-000001"]')).not.toBeNull();
    scope.dispose();
  });

  it('waits for a condition being filled in, then counts it', async () => {
    const { ctx, main, api, scope } = setup(() => 5);
    await renderSegments(ctx);
    await vi.advanceTimersByTimeAsync(400);
    const calls = api.segmentCount.mock.calls.length;
    // A trait row without a value is not a condition yet.
    main.querySelector<HTMLButtonElement>('[data-action="add-trait"]')!.click();
    change(main.querySelector('[data-condition="trait-0"] [data-field="name"]'), 'region', 'input');
    await vi.advanceTimersByTimeAsync(400);
    expect(countEl(main).dataset.state).toBe('invalid');
    expect(main.querySelector('.form-errors')!.textContent).toContain('give a value');
    change(main.querySelector('[data-condition="trait-0"] [data-field="value"]'), 'Gangnam', 'input');
    await vi.advanceTimersByTimeAsync(400);
    expect(api.segmentCount.mock.calls.length).toBe(calls + 1);
    expect(api.segmentCount.mock.calls.at(-1)![0].traits).toEqual([{ name: 'region', op: 'eq', value: 'Gangnam' }]);
    // Removing it goes back to the count before, asked again.
    main.querySelector<HTMLButtonElement>('[data-condition="trait-0"] .icon-btn')!.click();
    await vi.advanceTimersByTimeAsync(400);
    expect(api.segmentCount.mock.calls.at(-1)![0]).toEqual({ excludeSuppressed: true });
    scope.dispose();
  });

  it('shows the engine\'s reason when it refuses the conditions', async () => {
    const { ctx, main, scope } = setup(() => { throw new ApiError(400, "minStage must be between 1 and 4"); });
    await renderSegments(ctx);
    await vi.advanceTimersByTimeAsync(400);
    expect(countEl(main).dataset.state).toBe('error');
    expect(main.querySelector('.form-errors')!.textContent).toBe('minStage must be between 1 and 4');
    scope.dispose();
  });

  it('a funnel stage opens the builder with its stalled customers', async () => {
    const { ctx, scope } = setup(() => 1);
    ctx.route = { page: 'segments', id: '', params: { topic: 'spa-gangnam', minStage: '2', notConverted: '1' } };
    await renderSegments(ctx);
    expect(ctx.go).toHaveBeenCalledWith('#/segments', true);
    const { ctx: next, counted, scope: nextScope } = setup(() => 1);
    await renderSegments(next);
    await vi.advanceTimersByTimeAsync(400);
    expect(counted.at(-1)).toEqual({ dialogue: [{ topic: 'spa-gangnam', minStage: 2, notConverted: true }], excludeSuppressed: true });
    scope.dispose();
    nextScope.dispose();
  });
});
