import { describe, expect, it } from 'vitest';
import { breakdownConversionOption, breakdownOption, channelSeries, funnelOption, miniFunnelOption, stageColor, timelineOption, trendOption } from '../../src/chart-options';
import { sortFunnels } from '../../src/views/overview';
import { breakdownParam } from '../../src/views/funnel';
import type { Funnel, FunnelStage } from '../../src/types';

const stage = (n: number, name: string, customers: number, first: number, prev: number): FunnelStage => ({
  stage: n, name, customers, conversionFromFirst: customers / first, conversionFromPrevious: customers / prev,
  medianTimeFromPrevious: n === 1 ? null : 3600 * n, p90TimeFromPrevious: n === 1 ? null : 7200 * n,
});
const stages = [stage(1, 'awareness', 120, 120, 120), stage(2, 'interest', 60, 120, 120), stage(3, 'consideration', 12, 120, 60), stage(4, 'purchase', 6, 120, 12)];
const funnel: Funnel = {
  topic: 'tv-oled-55', topicName: '55-inch OLED TV', from: '2026-11-01', to: '2026-11-30', window: '7d', stages,
  breakdown: [{ key: 'web', stages }, { key: 'email', stages: [stage(1, 'awareness', 60, 60, 60), stage(2, 'interest', 30, 60, 60), stage(3, 'consideration', 6, 60, 30), stage(4, 'purchase', 6, 60, 6)] }],
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

describe('chart options', () => {
  it('the funnel draws one bar per stage in the stage colours, and the lost customers stacked up to the first stage', () => {
    const o = funnelOption(funnel) as Any;
    expect(o.xAxis.data).toEqual(['awareness', 'interest', 'consideration', 'purchase']);
    const [customers, lost] = o.series;
    expect(customers.data.map((d: Any) => d.value)).toEqual([120, 60, 12, 6]);
    expect(customers.data.map((d: Any) => d.itemStyle.color)).toEqual([1, 2, 3, 4].map(stageColor));
    expect(lost.data.map((d: Any) => d.value)).toEqual([0, 60, 108, 114]);
    expect(customers.stack).toBe(lost.stack);
  });

  it('labels tall bars inside and short bars above, never both', () => {
    const o = funnelOption(funnel) as Any;
    const inside = o.series[0].data.map((d: Any) => d.label.show);
    const above = o.series[1].data.map((d: Any) => d.label.show);
    expect(inside).toEqual([true, true, false, false]);
    expect(above).toEqual(inside.map((x: boolean) => !x));
    expect(o.series[0].label.formatter({ dataIndex: 1 })).toBe('{n|60}\n{p|50%}');
  });

  it('puts the conversion from the previous stage under each stage name, and describes the chart for screen readers', () => {
    const o = funnelOption(funnel) as Any;
    expect(o.xAxis.axisLabel.formatter('awareness', 0)).toBe('{name|awareness}\n{sub|entry}');
    expect(o.xAxis.axisLabel.formatter('consideration', 2)).toBe('{name|consideration}\n{sub|20% of previous}');
    expect(o.aria.label.description).toContain('purchase: 6 customers (5%)');
    expect(o.tooltip.formatter([{ dataIndex: 2 }])).toContain('median 3h · p90 6h from previous');
  });

  it('a breakdown is one series per key, coloured by channel', () => {
    const o = breakdownOption(funnel, 'channel') as Any;
    expect(o.series.map((s: Any) => s.name)).toEqual(['Web', 'Email']);
    expect(o.series[1].data).toEqual([60, 30, 6, 6]);
    expect(o.color).toEqual(['#2563eb', '#d97706']);
    const conv = breakdownConversionOption(funnel, 'channel') as Any;
    // Horizontal bars list bottom-up: the best converting key ends on top.
    expect(conv.yAxis.data).toEqual(['Web', 'Email']);
    expect(conv.series[0].data.map((d: Any) => d.value)).toEqual([0.05, 0.1]);
  });

  it('the mini funnel scales to the first stage', () => {
    const o = miniFunnelOption(funnel) as Any;
    expect(o.yAxis.max).toBe(120);
    expect(o.series[0].data).toHaveLength(4);
    expect((miniFunnelOption({ topicName: 'x', stages: [] }) as Any).yAxis.max).toBe(1);
  });

  it('a trend has one line per stage over every date, days without entries as zero', () => {
    const o = trendOption({ topic: 't', interval: 'day', series: [
      { stage: 1, name: 'awareness', points: [{ date: '2026-11-01', entries: 5 }, { date: '2026-11-03', entries: 7 }] },
      { stage: 2, name: 'interest', points: [{ date: '2026-11-02', entries: 2 }] },
    ] }) as Any;
    expect(o.xAxis.data).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
    expect(o.series.map((s: Any) => s.data)).toEqual([[5, 0, 7], [0, 2, 0]]);
    expect(o.series[0].stack).toBeUndefined();
    expect((trendOption({ topic: 't', interval: 'week', series: [] }, true) as Any).series).toEqual([]);
  });

  it('the timeline puts each interaction on its topic row, one series per channel', () => {
    const e = (channel: string, event: string) => ({ timestamp: '2026-11-01T10:00:00Z', channel, type: 'track', event, topics: ['a'], stages: [1] });
    const o = timelineOption([{ topic: 'a', topicName: 'A', interactions: [e('web', 'x'), e('email', 'y')] }, { topic: '', topicName: '', interactions: [e('web', 'z')] }]) as Any;
    expect(o.yAxis.data).toEqual(['No topic', 'A']);
    expect(o.series.map((s: Any) => s.name)).toEqual(['Email', 'Web']);
    expect(o.series[1].data).toEqual([['2026-11-01T10:00:00Z', 'A', 'x'], ['2026-11-01T10:00:00Z', 'No topic', 'z']]);
  });
});

describe('overview and funnel controls', () => {
  const f = (topic: string, entering: number, converted: number): Funnel => ({
    ...funnel, topic, topicName: topic, stages: [stage(1, 'a', entering, entering, entering), stage(2, 'b', converted, entering, entering)], breakdown: [],
  });
  const funnels = [f('b', 100, 10), f('a', 50, 10), f('c', 200, 10)];

  it('sorts topics by conversion either way, by volume or by name', () => {
    expect(sortFunnels(funnels, 'conversion-desc').map((x) => x.topic)).toEqual(['a', 'b', 'c']);
    expect(sortFunnels(funnels, 'conversion-asc').map((x) => x.topic)).toEqual(['c', 'b', 'a']);
    expect(sortFunnels(funnels, 'volume').map((x) => x.topic)).toEqual(['c', 'b', 'a']);
    expect(sortFunnels(funnels, 'name').map((x) => x.topic)).toEqual(['a', 'b', 'c']);
    expect(funnels.map((x) => x.topic)).toEqual(['b', 'a', 'c']);
  });

  it('builds the breakdown parameter', () => {
    expect(breakdownParam('', '')).toBe('');
    expect(breakdownParam('cohortWeek', 'region')).toBe('cohortWeek');
    expect(breakdownParam('trait', ' region ')).toBe('trait:region');
    expect(breakdownParam('trait', ' ')).toBe('');
  });
});

describe('trend split by channel', () => {
  it('keeps one stage and names and colours its lines by channel', () => {
    const trends = { topic: 't', interval: 'day' as const, series: [
      { stage: 1, name: 'awareness', channel: 'web', points: [{ date: '2026-11-01', entries: 3 }] },
      { stage: 2, name: 'interest', channel: 'web', points: [{ date: '2026-11-01', entries: 2 }] },
      { stage: 2, name: 'interest', channel: 'email', points: [{ date: '2026-11-02', entries: 1 }] },
    ] };
    const split = channelSeries(trends, 2);
    expect(split.series.map((s) => [s.name, s.channel])).toEqual([['Email', 'email'], ['Web', 'web']]);
    const o = trendOption(split) as Any;
    expect(o.color).toEqual(['#d97706', '#2563eb']);
    expect(o.series.map((s: Any) => s.data)).toEqual([[0, 1], [2, 0]]);
  });
});

describe('funnel on a phone', () => {
  it('cuts long stage names and drops "of previous" when narrow', () => {
    const o = funnelOption(funnel, true) as Any;
    expect(o.xAxis.axisLabel.formatter('consideration', 2)).toBe('{name|consider…}\n{sub|20%}');
    expect(o.xAxis.axisLabel.formatter('awareness', 0)).toBe('{name|awareness}\n{sub|entry}');
  });
});
