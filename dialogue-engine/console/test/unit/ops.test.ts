import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError } from '../../src/api';
import { conversionOption, firingsByDay, formatAxisRate, formatBytes, formatRate, healthFigures, lagOption, partitionLabel, ratesOption } from '../../src/ops-options';
import type { PipelineReport, TriggerConversions } from '../../src/types';
import { describeWhen, parseRule } from '../../src/views/triggers';

const report = (over: Partial<PipelineReport> = {}): PipelineReport => ({
  at: '2026-11-26T04:00:03Z',
  sampleSeconds: 3,
  lag: [
    { role: 'fold', group: 'ecrm-dialogue-engine', topic: 'ecrm.events', partition: 0, committed: 90, end: 100, lag: 10 },
    { role: 'archive', group: 'ecrm-archive', topic: 'ecrm.dialogue.transitions', partition: 1, committed: null, end: 5, lag: 5 },
  ],
  lagError: null,
  services: {
    engine: { status: 'ok', error: null, totals: { folded: 900, 'batchFailures.archive': 2, 'batchFailures.fold': 1 }, perSecond: { folded: 150 }, levels: {} },
    collector: { status: 'ok', error: null, totals: { requests: 400 }, perSecond: { requests: 40, serverErrors: 2, accepted: 400 }, levels: { spoolBytes: 2048 } },
    recommender: { status: 'unreachable', error: 'http://x/metrics: refused', totals: {}, perSecond: {}, levels: {} },
  },
  history: [
    { at: '2026-11-26T04:00:00Z', lag: 20, perSecond: { 'engine.folded': null }, spoolBytes: 0 },
    { at: '2026-11-26T04:00:03Z', lag: 15, perSecond: { 'engine.folded': 150.04, 'collector.requests': 40 }, spoolBytes: 2048 },
  ],
  ...over,
});

describe('pipeline health figures', () => {
  it('adds up lag, takes the fold rate and spool, and names the services that are away', () => {
    const f = healthFigures(report());
    expect(f).toEqual({ totalLag: 15, foldPerSecond: 150, spoolBytes: 2048, collectorRequests: 40, collectorErrorShare: 0.05, batchFailures: 3, away: ['recommender'] });
  });

  it('knows no lag when Kafka did not answer and no rates on the first sample', () => {
    const first = report({ lagError: 'Kafka: all brokers down', lag: [] });
    first.services.collector.perSecond = {};
    first.services.engine.perSecond = { folded: null };
    const f = healthFigures(first);
    expect(f.totalLag).toBeNull();
    expect(f.foldPerSecond).toBeNull();
    expect(f.collectorErrorShare).toBeNull();
  });

  it('draws a bar per partition, labelled by role, topic and partition, coloured by role', () => {
    const option = lagOption(report().lag) as { yAxis: { data: string[] }; series: { data: { value: number; itemStyle: { color: string } }[] }[] };
    expect(partitionLabel(report().lag[0])).toBe('fold · events #0');
    // Horizontal bars read top-down, so the first partition is drawn last.
    expect(option.yAxis.data).toEqual(['archive · transitions #1', 'fold · events #0']);
    expect(option.series[0].data.map((d) => d.value)).toEqual([5, 10]);
    expect(new Set(option.series[0].data.map((d) => d.itemStyle.color)).size).toBe(2);
  });

  it('draws a line per rate over the sampled history, with gaps where a rate was unknown', () => {
    const option = ratesOption(report().history, [['engine.folded', 'Folded'], ['collector.requests', 'Requests']]) as { xAxis: { data: string[] }; series: { name: string; data: (number | null)[] }[] };
    expect(option.xAxis.data).toHaveLength(2);
    expect(option.series.map((s) => [s.name, s.data])).toEqual([['Folded', [null, 150]], ['Requests', [null, 40]]]);
  });

  it('says in words that a chart of errors has none, and draws the lines once one happens', () => {
    const quiet = report().history.map((p) => ({ ...p, perSecond: {} }));
    const none = ratesOption(quiet, [], 'No errors since this page opened') as { title?: { text: string } };
    expect(none.title?.text).toBe('No errors since this page opened');
    const zero = ratesOption(report().history.map((p) => ({ ...p, perSecond: { 'collector.serverErrors': 0 } })), [['collector.serverErrors', '5xx']], 'No errors') as { title?: { text: string } };
    expect(zero.title?.text).toBe('No errors');
    const some = ratesOption(report().history, [['collector.requests', 'Requests']], 'No errors') as { title?: unknown };
    expect(some.title).toBeUndefined();
  });

  it('labels a quiet rate axis with distinct fractions, and leaves room for a legend of more than three lines', () => {
    expect([0, 0.2, 0.4, 0.6, 0.8, 1].map(formatAxisRate)).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1']);
    expect(formatAxisRate(12_500)).toBe('13k');
    const lines: [string, string][] = [['a', 'A'], ['b', 'B'], ['c', 'C'], ['d', 'D']];
    const option = ratesOption(report().history, lines) as { grid: { top: number }; yAxis: { minInterval: number } };
    expect(option.grid.top).toBeGreaterThan((ratesOption(report().history, lines.slice(0, 3)) as { grid: { top: number } }).grid.top);
    expect(option.yAxis.minInterval).toBe(0.1);
  });

  it('formats rates and bytes for people', () => {
    expect(formatRate(null)).toBe('–');
    expect(formatRate(2.345)).toBe('2.3/s');
    expect(formatRate(12_500)).toBe('13k/s');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });
});

describe('trigger views', () => {
  it('counts firings per day and status, empty days included', () => {
    const { days, byStatus } = firingsByDay([
      { firedAt: '2026-11-20T23:59:00Z', status: 'delivered' },
      { firedAt: '2026-11-22T01:00:00Z', status: 'delivered' },
      { firedAt: '2026-11-22T02:00:00Z', status: 'dead' },
    ]);
    expect(days).toEqual(['2026-11-20', '2026-11-21', '2026-11-22']);
    expect(byStatus).toEqual({ delivered: [1, 0, 1], dead: [0, 0, 1] });
    expect(firingsByDay([])).toEqual({ days: [], byStatus: {} });
  });

  it('shows fired and converted per day and the rate on its own percent axis', () => {
    const c: TriggerConversions = { trigger: 'r', from: '', to: '', window: '2h', fired: 5, converted: 2, rate: 0.4, days: [{ date: '2026-11-20', fired: 4, converted: 1 }, { date: '2026-11-21', fired: 1, converted: 1 }] };
    const option = conversionOption(c) as { series: { name: string; data: (number | null)[]; yAxisIndex?: number }[]; aria: { label: { description: string } } };
    expect(option.series.map((s) => s.name)).toEqual(['Fired', 'Converted', 'Rate']);
    expect(option.series[2]).toMatchObject({ yAxisIndex: 1, data: [0.25, 1] });
    expect(option.aria.label.description).toContain('5 firings, 2 reached a later stage within 2h');
  });

  it('says a rule\'s condition in words', () => {
    const stages = ['awareness', 'interest', 'consideration', 'purchase'];
    expect(describeWhen({ when: { topic: '*', toStage: 3 }, unless: { toStage: 4, within: 'PT2H' } }, stages))
      .toBe('any topic: stage 3 (consideration), unless stage 4 (purchase) within PT2H');
    expect(describeWhen({ when: { topic: 'tv', fromStage: 1, toStage: 2, channel: 'email' } }, stages, () => 'OLED TV'))
      .toBe('OLED TV: stage 1 (awareness) → stage 2 (interest) on email');
  });

  it('reads the editor: an object, or the reason it is not one', () => {
    expect(parseRule('{"id":"a"}').rule?.id).toBe('a');
    expect(parseRule('[1]').error).toBe('body: a JSON object');
    expect(parseRule('{"id":').error).toMatch(/^body: not JSON/);
  });

  it('keeps the API\'s validation errors, each naming its field, and saves with POST then PUT', async () => {
    const calls: string[] = [];
    const fetcher = async (url: string, init?: RequestInit) => {
      calls.push(`${init?.method} ${url}`);
      if (init?.method === 'POST' && url === '/api/triggers') {
        return new Response(JSON.stringify({ status: 400, detail: 'when.toStage: 1 to 4; action.url: https', errors: ['when.toStage: 1 to 4', 'action.url: https'] }), { status: 400 });
      }
      return new Response(JSON.stringify({ id: 'r1', enabled: false }), { status: 200 });
    };
    const api = new ApiClient('adm', '', fetcher);
    const rule = { id: 'r1', enabled: true, when: { toStage: 9 }, action: { type: 'webhook', url: 'ftp://x' } };
    const error = await api.saveTrigger(rule, true).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).errors).toEqual(['when.toStage: 1 to 4', 'action.url: https']);
    await api.saveTrigger({ ...rule, enabled: false }, false);
    await api.replay('f/1');
    expect(calls).toEqual(['POST /api/triggers', 'PUT /api/triggers/r1', 'POST /api/triggers/dead-letters/f%2F1/replay']);
  });
});
