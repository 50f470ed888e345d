import { describe, expect, it } from 'vitest';
import {
  conditionsKey, describe as describeConditions, emptyState, fromConditions, newDialogueRow, newTraitRow, segmentId, toConditions, validate,
} from '../../src/conditions';
import type { Conditions } from '../../src/types';

describe('segment conditions', () => {
  it('an empty form is every customer not suppressed', () => {
    expect(toConditions(emptyState())).toEqual({ excludeSuppressed: true });
    const s = emptyState();
    s.excludeSuppressed = false;
    expect(toConditions(s)).toEqual({ excludeSuppressed: false });
  });

  it('builds the contract object from the form: the spa readers in Gangnam who did not book', () => {
    const s = emptyState();
    s.dialogue.push({ topic: 'spa-gangnam', minStage: '2', withinDays: '14', notConverted: true });
    s.traits.push({ name: ' region ', op: 'eq', value: ' Gangnam ' }, { name: 'points', op: 'gte', value: '10000' });
    s.activity = { valueTier: 'high', recencyDays: '30', minOrders: '1', minRevenue: '99.5' };
    expect(toConditions(s)).toEqual({
      dialogue: [{ topic: 'spa-gangnam', minStage: 2, withinDays: 14, notConverted: true }],
      traits: [{ name: 'region', op: 'eq', value: 'Gangnam' }, { name: 'points', op: 'gte', value: 10000 }],
      activity: { valueTier: 'high', recencyDays: 30, minOrders: 1, minRevenue: 99.5 },
      excludeSuppressed: true,
    } satisfies Conditions);
  });

  it('sends numbers only where they compare as numbers, and text otherwise', () => {
    const s = emptyState();
    s.traits.push({ name: 'zip', op: 'eq', value: '06236' }, { name: 'ageBand', op: 'contains', value: '35' }, { name: 'points', op: 'lt', value: '-5' }, { name: 'tier', op: 'gt', value: 'gold' });
    expect(toConditions(s).traits).toEqual([
      { name: 'zip', op: 'eq', value: '06236' },
      { name: 'ageBand', op: 'contains', value: '35' },
      { name: 'points', op: 'lt', value: -5 },
      { name: 'tier', op: 'gt', value: 'gold' },
    ]);
  });

  it('leaves out rows still being filled in and optional fields left empty', () => {
    const s = emptyState();
    s.dialogue.push(newDialogueRow(''), { topic: 'tv-oled-55', minStage: '', withinDays: '', notConverted: false });
    s.traits.push(newTraitRow('region'));
    expect(toConditions(s)).toEqual({ dialogue: [{ topic: 'tv-oled-55' }], excludeSuppressed: true });
  });

  it('names every problem of the form, and a valid form has none', () => {
    const s = emptyState();
    s.dialogue.push({ topic: '', minStage: '1.5', withinDays: '0', notConverted: false });
    s.traits.push({ name: '', op: 'eq', value: '' });
    s.activity = { valueTier: '', recencyDays: '-1', minOrders: 'x', minRevenue: '1e400' };
    expect(validate(s)).toEqual([
      'Dialogue condition 1: choose a topic',
      'Dialogue condition 1: the stage must be a whole number',
      'Dialogue condition 1: "within days" must be a whole number above 0',
      'Trait condition 1: name the trait',
      'Trait condition 1: give a value',
      'Activity: "last order within" must be a whole number of days',
      'Activity: "at least orders" must be a whole number',
      'Activity: "revenue at least" must be a number',
    ]);
    const ok = emptyState();
    ok.dialogue.push(newDialogueRow('tv-oled-55'));
    expect(validate(ok)).toEqual([]);
  });

  it('a huge number is refused rather than rounded', () => {
    const s = emptyState();
    s.dialogue.push({ topic: 'tv-oled-55', minStage: '99999999999999999999', withinDays: '', notConverted: false });
    expect(validate(s)).toHaveLength(1);
    expect(toConditions(s).dialogue).toEqual([{ topic: 'tv-oled-55' }]);
  });

  it('a saved segment opens in the form and saves back unchanged', () => {
    const saved: Conditions = {
      dialogue: [{ topic: 'spa-gangnam', minStage: 2, withinDays: 14, notConverted: true }],
      traits: [{ name: 'points', op: 'gte', value: 10000 }, { name: 'region', op: 'eq', value: 'Gangnam' }],
      activity: { valueTier: 'medium', minRevenue: 100 },
      excludeSuppressed: false,
    };
    expect(toConditions(fromConditions(saved))).toEqual(saved);
    expect(fromConditions({}).excludeSuppressed).toBe(true);
  });

  it('the live-count key changes with any condition and only then', () => {
    const a = emptyState();
    a.dialogue.push(newDialogueRow('tv-oled-55'));
    const b = structuredClone(a);
    expect(conditionsKey(toConditions(a))).toBe(conditionsKey(toConditions(b)));
    b.dialogue[0].minStage = '3';
    expect(conditionsKey(toConditions(a))).not.toBe(conditionsKey(toConditions(b)));
  });

  it('makes ids from names', () => {
    expect(segmentId('Spa readers: Gangnam, 10k+ points!')).toBe('spa-readers-gangnam-10k-points');
    expect(segmentId('  Café  Crème ')).toBe('cafe-creme');
    expect(segmentId('강남 고객')).toMatch(/^segment-[a-z0-9]+$/);
    expect(segmentId('x'.repeat(100))).toHaveLength(64);
  });

  it('summarises conditions in one line', () => {
    const c: Conditions = {
      dialogue: [{ topic: 'spa-gangnam', minStage: 2, withinDays: 14, notConverted: true }],
      traits: [{ name: 'points', op: 'gte', value: 10000 }],
      activity: { valueTier: 'high' },
    };
    expect(describeConditions(c, ['awareness', 'interest'], (id) => (id === 'spa-gangnam' ? 'Gangnam Spa' : id)))
      .toBe('Gangnam Spa at interest+ in 14d, not converted · points ≥ 10000 · high value');
    expect(describeConditions({ excludeSuppressed: true })).toBe('All customers');
  });
});
