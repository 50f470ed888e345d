// ECharts options for every chart of the console: pure functions of API data, so they are unit-tested
// without a browser. charts.ts draws them (SVG renderer).
import type { EChartsCoreOption } from 'echarts/core';
import { breakdownKeyLabel, formatCompact, formatCount, formatDay, formatDuration, formatPercent } from './format';
import type { Funnel, FunnelStage, TimelineEntry, Trends } from './types';

export const STAGE_COLORS = ['#4f46e5', '#7c3aed', '#a21caf', '#db2777', '#ea580c', '#0d9488'];
export const CHANNEL_COLORS: Record<string, string> = { web: '#2563eb', email: '#d97706', mobile: '#059669', server: '#64748b' };
export const SERIES_COLORS = ['#4f46e5', '#0d9488', '#d97706', '#db2777', '#2563eb', '#65a30d', '#9333ea', '#dc2626', '#0891b2', '#64748b'];

export const stageColor = (stage: number): string => STAGE_COLORS[(stage - 1) % STAGE_COLORS.length];
export const channelColor = (channel: string, i = 0): string => CHANNEL_COLORS[channel] ?? SERIES_COLORS[i % SERIES_COLORS.length];

const FONT = 'Inter, "Segoe UI", system-ui, -apple-system, Roboto, "Helvetica Neue", Arial, sans-serif';
const AXIS = { color: '#64748b', fontFamily: FONT, fontSize: 12 };
const GRID_LINE = { lineStyle: { color: '#e2e8f0' } };
const TOOLTIP = {
  backgroundColor: '#0f172a',
  borderWidth: 0,
  padding: [8, 12],
  textStyle: { color: '#f8fafc', fontFamily: FONT, fontSize: 12 },
  extraCssText: 'border-radius:8px;box-shadow:0 8px 24px rgba(15,23,42,.25);',
};

interface Param { dataIndex: number; seriesName: string; value: unknown; color?: string; marker?: string; axisValueLabel?: string; seriesIndex?: number }

/**
 * The main funnel: one bar per stage, its height the distinct customers who reached it, labelled with the
 * count and the share of the first stage; a pale bar on top shows who was lost on the way (stacked to the
 * first stage's height). The x labels carry the conversion from the previous stage.
 */
export function funnelOption(funnel: Pick<Funnel, 'stages' | 'topicName'>, narrow = false): EChartsCoreOption {
  const stages = funnel.stages;
  const first = stages[0]?.customers ?? 0;
  const tall = (s: FunnelStage) => first > 0 && s.customers / first >= 0.16;
  return {
    animationDuration: 400,
    aria: { enabled: true, label: { description: funnelDescription(funnel) } },
    grid: narrow ? { left: 40, right: 8, top: 32, bottom: 44 } : { left: 56, right: 16, top: 48, bottom: 56 },
    tooltip: { ...TOOLTIP, trigger: 'axis', axisPointer: { type: 'shadow' }, formatter: (p: Param[]) => stageTooltip(stages[p[0].dataIndex]) },
    xAxis: {
      type: 'category',
      data: stages.map((s) => s.name),
      axisTick: { show: false },
      axisLine: { lineStyle: { color: '#cbd5e1' } },
      axisLabel: {
        ...AXIS,
        interval: 0,
        // Narrow: the name cut to fit and the bare share; wide: "46% of previous".
        formatter: (name: string, i: number) => {
          const label = narrow && name.length > 9 ? `${name.slice(0, 8)}…` : name;
          const sub = i === 0 ? 'entry' : `${formatPercent(stages[i].conversionFromPrevious)}${narrow ? '' : ' of previous'}`;
          return `{name|${label}}\n{sub|${sub}}`;
        },
        rich: { name: { ...AXIS, color: '#0f172a', fontWeight: 600, fontSize: narrow ? 11 : 13, lineHeight: 20 }, sub: { ...AXIS, fontSize: 11 } },
      },
    },
    yAxis: { type: 'value', splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatCompact } },
    series: [
      {
        name: 'Customers',
        type: 'bar',
        stack: 'funnel',
        barMaxWidth: 96,
        // A bar too short for its label puts the label on the pale bar above it, in dark ink.
        data: stages.map((s) => ({ value: s.customers, itemStyle: { color: stageColor(s.stage) }, label: { show: tall(s) } })),
        label: { position: 'insideTop', distance: 8, formatter: (p: Param) => stageLabel(stages[p.dataIndex]), rich: richLabel('#fff', 'rgba(255,255,255,.85)') },
      },
      {
        name: 'Lost',
        type: 'bar',
        stack: 'funnel',
        silent: true,
        data: stages.map((s) => ({ value: Math.max(0, first - s.customers), label: { show: !tall(s) } })),
        itemStyle: { color: '#eef2ff', borderRadius: [6, 6, 0, 0] },
        label: { position: 'insideBottom', distance: 6, formatter: (p: Param) => stageLabel(stages[p.dataIndex]), rich: richLabel('#0f172a', '#475569') },
      },
    ],
  };
}

const stageLabel = (s: FunnelStage) => `{n|${formatCount(s.customers)}}\n{p|${formatPercent(s.conversionFromFirst)}}`;
const richLabel = (strong: string, soft: string) => ({
  n: { color: strong, fontWeight: 700, fontSize: 14, fontFamily: FONT, lineHeight: 20, align: 'center' },
  p: { color: soft, fontSize: 12, fontFamily: FONT, align: 'center' },
});

function funnelDescription(funnel: Pick<Funnel, 'stages' | 'topicName'>): string {
  const parts = funnel.stages.map((s) => `${s.name}: ${s.customers} customers (${formatPercent(s.conversionFromFirst)})`);
  return `Funnel of ${funnel.topicName}. ${parts.join('; ')}.`;
}

export function stageTooltip(s: FunnelStage | undefined): string {
  if (!s) return '';
  const rows = [
    `<b>${escapeHtml(s.name)}</b>`,
    `${formatCount(s.customers)} customers`,
    `${formatPercent(s.conversionFromFirst)} of entry · ${formatPercent(s.conversionFromPrevious)} of previous`,
  ];
  if (s.medianTimeFromPrevious !== null) rows.push(`median ${formatDuration(s.medianTimeFromPrevious)} · p90 ${formatDuration(s.p90TimeFromPrevious)} from previous`);
  return rows.join('<br>');
}

/** A funnel per breakdown key side by side: grouped bars per stage, one colour per key. */
export function breakdownOption(funnel: Funnel, breakdown: string): EChartsCoreOption {
  const stageNames = funnel.stages.map((s) => s.name);
  const keys = funnel.breakdown;
  const color = (key: string, i: number) => (breakdown === 'channel' || breakdown === 'firstChannel' ? channelColor(key, i) : SERIES_COLORS[i % SERIES_COLORS.length]);
  return {
    animationDuration: 400,
    aria: { enabled: true },
    color: keys.map((k, i) => color(k.key, i)),
    legend: { top: 0, left: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 12, textStyle: AXIS, type: 'scroll' },
    grid: { left: 56, right: 16, top: 40, bottom: 32 },
    tooltip: {
      ...TOOLTIP,
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter: (ps: Param[]) => {
        const i = ps[0].dataIndex;
        return [`<b>${escapeHtml(stageNames[i])}</b>`, ...ps.map((p) => {
          const s = keys[p.seriesIndex ?? 0]?.stages[i];
          return `${p.marker ?? ''}${escapeHtml(p.seriesName)}: ${formatCount(s?.customers)} · ${formatPercent(s?.conversionFromFirst)} of entry`;
        })].join('<br>');
      },
    },
    xAxis: { type: 'category', data: stageNames, axisTick: { show: false }, axisLabel: { ...AXIS, color: '#0f172a', fontWeight: 600 }, axisLine: { lineStyle: { color: '#cbd5e1' } } },
    yAxis: { type: 'value', splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatCompact } },
    series: keys.map((k) => ({
      name: breakdownKeyLabel(breakdown, k.key),
      type: 'bar',
      barMaxWidth: 28,
      itemStyle: { borderRadius: [4, 4, 0, 0] },
      data: stageNames.map((_, i) => k.stages[i]?.customers ?? 0),
    })),
  };
}

/** Overall conversion (last stage of first) per breakdown key, best first, as horizontal bars. */
export function breakdownConversionOption(funnel: Funnel, breakdown: string): EChartsCoreOption {
  const rows = funnel.breakdown
    .map((k, i) => ({ label: breakdownKeyLabel(breakdown, k.key), key: k.key, i, conv: (k.stages.length ? k.stages[k.stages.length - 1].conversionFromFirst : 0) ?? 0, entry: k.stages[0]?.customers ?? 0 }))
    .sort((a, b) => a.conv - b.conv);
  const color = (key: string, i: number) => (breakdown === 'channel' || breakdown === 'firstChannel' ? channelColor(key, i) : SERIES_COLORS[i % SERIES_COLORS.length]);
  return {
    animationDuration: 400,
    aria: { enabled: true },
    grid: { left: 8, right: 56, top: 8, bottom: 8, containLabel: true },
    tooltip: { ...TOOLTIP, trigger: 'item', formatter: (p: Param) => `<b>${escapeHtml(rows[p.dataIndex].label)}</b><br>${formatPercent(rows[p.dataIndex].conv)} converted of ${formatCount(rows[p.dataIndex].entry)} entering` },
    xAxis: { type: 'value', max: (v: { max: number }) => Math.min(1, Math.max(0.05, Math.ceil(v.max * 1.15 * 20) / 20)), splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: (v: number) => formatPercent(v) } },
    yAxis: { type: 'category', data: rows.map((r) => r.label), axisTick: { show: false }, axisLine: { show: false }, axisLabel: { ...AXIS, color: '#0f172a' } },
    series: [{
      name: 'Conversion',
      type: 'bar',
      barMaxWidth: 18,
      data: rows.map((r) => ({ value: r.conv, itemStyle: { color: color(r.key, r.i), borderRadius: [0, 4, 4, 0] } })),
      label: { show: true, position: 'right', ...AXIS, color: '#0f172a', fontWeight: 600, formatter: (p: Param) => formatPercent(p.value as number) },
    }],
  };
}

/** The topic overview's small funnel: bars only, no axes, the stage names in the tooltip. */
export function miniFunnelOption(funnel: Pick<Funnel, 'stages' | 'topicName'>): EChartsCoreOption {
  const stages = funnel.stages;
  return {
    animation: false,
    aria: { enabled: true, label: { description: funnelDescription(funnel) } },
    grid: { left: 0, right: 0, top: 4, bottom: 18 },
    tooltip: { ...TOOLTIP, trigger: 'axis', axisPointer: { type: 'shadow' }, formatter: (p: Param[]) => stageTooltip(stages[p[0].dataIndex]) },
    xAxis: { type: 'category', data: stages.map((s) => s.name), axisLine: { show: false }, axisTick: { show: false }, axisLabel: { ...AXIS, fontSize: 10, interval: 0, formatter: (v: string) => v.slice(0, 10) } },
    yAxis: { type: 'value', show: false, max: Math.max(1, stages[0]?.customers ?? 1) },
    series: [{
      name: 'Customers',
      type: 'bar',
      barCategoryGap: '18%',
      showBackground: true,
      backgroundStyle: { color: '#f1f5f9', borderRadius: 4 },
      data: stages.map((s) => ({ value: s.customers, itemStyle: { color: stageColor(s.stage), borderRadius: [4, 4, 0, 0] } })),
    }],
  };
}

/**
 * One stage's entries split by channel (a trend asked with by=channel): a series per channel, named
 * and coloured by it, so trendOption draws a line per channel.
 */
export function channelSeries(trends: Trends, stage: number): Trends {
  const series = trends.series
    .filter((s) => s.stage === stage)
    .map((s) => ({ ...s, name: s.channel ? s.channel.charAt(0).toUpperCase() + s.channel.slice(1) : 'Other', channel: s.channel ?? '' }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { ...trends, series };
}

/** Stage entries over time: one line per stage (or per channel, for channelSeries). */
export function trendOption(trends: Trends, stacked = false): EChartsCoreOption {
  const dates = [...new Set(trends.series.flatMap((s) => s.points.map((p) => p.date)))].sort();
  return {
    animationDuration: 400,
    aria: { enabled: true },
    color: trends.series.map((s, i) => (s.channel ? channelColor(s.channel, i) : stageColor(s.stage))),
    legend: { top: 0, left: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 12, textStyle: AXIS },
    grid: { left: 48, right: 16, top: 40, bottom: 56 },
    tooltip: {
      ...TOOLTIP,
      trigger: 'axis',
      formatter: (ps: Param[]) => [`<b>${trends.interval === 'week' ? 'Week of ' : ''}${formatDay(dates[ps[0].dataIndex])}</b>`,
        ...ps.map((p) => `${p.marker ?? ''}${escapeHtml(p.seriesName)}: ${formatCount(p.value as number)}`)].join('<br>'),
    },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8, borderColor: '#e2e8f0', fillerColor: 'rgba(79,70,229,.12)', handleStyle: { color: '#4f46e5' }, textStyle: AXIS }],
    xAxis: { type: 'category', boundaryGap: false, data: dates, axisLabel: { ...AXIS, formatter: formatDay }, axisLine: { lineStyle: { color: '#cbd5e1' } }, axisTick: { show: false } },
    yAxis: { type: 'value', splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatCompact }, minInterval: 1 },
    series: trends.series.map((s) => {
      const byDate = new Map(s.points.map((p) => [p.date, p.entries]));
      return {
        name: s.name,
        type: 'line',
        stack: stacked ? 'entries' : undefined,
        smooth: 0.2,
        symbol: 'circle',
        symbolSize: 5,
        showSymbol: dates.length <= 45,
        lineStyle: { width: 2 },
        areaStyle: { opacity: stacked ? 0.55 : 0.08 },
        emphasis: { focus: 'series' },
        data: dates.map((d) => byDate.get(d) ?? 0),
      };
    }),
  };
}

/** The customer's interactions as dots on a time axis, one row per topic, coloured by channel. */
export function timelineOption(groups: { topic: string; topicName: string; interactions: TimelineEntry[] }[]): EChartsCoreOption {
  const rows = groups.map((g) => g.topicName || g.topic || 'No topic').reverse();
  const channels = [...new Set(groups.flatMap((g) => g.interactions.map((e) => e.channel)))].sort();
  return {
    animation: false,
    aria: { enabled: true },
    legend: { top: 0, right: 0, icon: 'circle', itemWidth: 10, itemHeight: 10, textStyle: AXIS },
    grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
    tooltip: { ...TOOLTIP, trigger: 'item', formatter: (p: Param) => {
      const [time, , what] = p.value as [string, string, string];
      return `${p.marker ?? ''}<b>${escapeHtml(what)}</b><br>${escapeHtml(p.seriesName)} · ${new Date(time).toLocaleString()}`;
    } },
    xAxis: { type: 'time', splitLine: GRID_LINE, axisLabel: { ...AXIS, hideOverlap: true } },
    yAxis: { type: 'category', data: rows, axisTick: { show: false }, axisLine: { show: false }, axisLabel: { ...AXIS, color: '#0f172a', width: 160, overflow: 'truncate' }, splitLine: { show: true, lineStyle: { color: '#f1f5f9' } } },
    series: channels.map((ch, i) => ({
      name: ch.charAt(0).toUpperCase() + ch.slice(1),
      type: 'scatter',
      symbolSize: 11,
      itemStyle: { color: channelColor(ch, i), opacity: 0.9, borderColor: '#fff', borderWidth: 1 },
      data: groups.flatMap((g) => g.interactions.filter((e) => e.channel === ch).map((e) => [e.timestamp, g.topicName || g.topic || 'No topic', e.event || (e.type === 'page' ? 'Page view' : e.type)])),
    })),
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
