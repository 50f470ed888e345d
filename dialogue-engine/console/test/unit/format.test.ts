import { describe, expect, it } from 'vitest';
import {
  addDays, biggestDropOff, breakdownKeyLabel, formatAgo, formatCompact, formatCount, formatDuration, formatPercent, lastDays, overallConversion, windowLabel,
} from '../../src/format';

describe('format', () => {
  it('shows shares as percentages, with a decimal only below 10 %', () => {
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0.4567)).toBe('46%');
    expect(formatPercent(0.0864)).toBe('8.6%');
    expect(formatPercent(0.05)).toBe('5%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.0004)).toBe('<0.1%');
    expect(formatPercent(null)).toBe('–');
    expect(formatPercent(Number.NaN)).toBe('–');
  });

  it('shows durations as their two largest units', () => {
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(12 * 60)).toBe('12m');
    expect(formatDuration(3 * 3600 + 20 * 60 + 5)).toBe('3h 20m');
    expect(formatDuration(2 * 86400 + 4 * 3600 + 59 * 60)).toBe('2d 4h');
    expect(formatDuration(86400)).toBe('1d');
    expect(formatDuration(86400 + 60)).toBe('1d');
    expect(formatDuration(-1)).toBe('–');
  });

  it('counts with separators and compacts axis labels', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(undefined)).toBe('–');
    expect(formatCompact(950)).toBe('950');
    expect(formatCompact(1200)).toBe('1.2k');
    expect(formatCompact(34000)).toBe('34k');
    expect(formatCompact(1_500_000)).toBe('1.5M');
  });

  it('builds date ranges in UTC days, both ends included', () => {
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(lastDays(30, new Date('2026-11-26T23:30:00Z'))).toEqual({ from: '2026-10-28', to: '2026-11-26' });
    expect(lastDays(1, new Date('2026-11-26T00:00:00Z'))).toEqual({ from: '2026-11-26', to: '2026-11-26' });
  });

  it('names windows and breakdown keys for people', () => {
    expect(windowLabel('7d')).toBe('7 days');
    expect(windowLabel('1d')).toBe('1 day');
    expect(windowLabel('12h')).toBe('12 hours');
    expect(breakdownKeyLabel('channel', 'email')).toBe('Email');
    expect(breakdownKeyLabel('cohortWeek', '2026-11-02')).toBe('Week of Nov 2');
    expect(breakdownKeyLabel('trait:region', 'Gangnam')).toBe('Gangnam');
    expect(breakdownKeyLabel('channel', '')).toBe('(none)');
  });

  it('says how long ago', () => {
    const now = new Date('2026-11-26T12:00:00Z');
    expect(formatAgo('2026-11-26T11:59:30Z', now)).toBe('just now');
    expect(formatAgo('2026-11-26T10:00:00Z', now)).toBe('2h ago');
    expect(formatAgo('2026-11-23T12:00:00Z', now)).toBe('3d ago');
    expect(formatAgo(null, now)).toBe('–');
  });

  const stages = [
    { stage: 1, name: 'awareness', customers: 200, conversionFromPrevious: 1, conversionFromFirst: 1 },
    { stage: 2, name: 'interest', customers: 100, conversionFromPrevious: 0.5, conversionFromFirst: 0.5 },
    { stage: 3, name: 'consideration', customers: 20, conversionFromPrevious: 0.2, conversionFromFirst: 0.1 },
    { stage: 4, name: 'purchase', customers: 15, conversionFromPrevious: 0.75, conversionFromFirst: 0.075 },
  ];

  it('reads the overall conversion from the last stage and finds the biggest drop-off', () => {
    expect(overallConversion(stages)).toBe(0.075);
    expect(overallConversion([])).toBe(0);
    expect(biggestDropOff(stages)?.name).toBe('consideration');
    expect(biggestDropOff(stages.slice(0, 1))).toBeNull();
  });
});

describe('timeline labels', async () => {
  const { eventLabel } = await import('../../src/views/customer');
  it('names calls without an event name by their kind', () => {
    expect(eventLabel({ event: 'Email Opened', type: 'track' })).toBe('Email Opened');
    expect(eventLabel({ event: '', type: 'page' })).toBe('Page view');
    expect(eventLabel({ event: '', type: 'identify' })).toBe('Signed in / identified');
    expect(eventLabel({ event: '', type: 'custom' })).toBe('custom');
  });
});
