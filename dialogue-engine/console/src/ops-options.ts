// Charts and figures of the operations views (triggers, pipeline health): pure functions of API data,
// unit-tested without a browser, drawn by charts.ts like the analytics charts.
import type { EChartsCoreOption } from 'echarts/core';
import { escapeHtml, SERIES_COLORS } from './chart-options';
import { formatCompact, formatCount, formatDay, formatPercent } from './format';
import type { Firing, PartitionLag, PipelinePoint, PipelineReport, TriggerConversions } from './types';

const FONT = 'Inter, "Segoe UI", system-ui, -apple-system, Roboto, "Helvetica Neue", Arial, sans-serif';
const AXIS = { color: '#64748b', fontFamily: FONT, fontSize: 12 };
const GRID_LINE = { lineStyle: { color: '#e2e8f0' } };
const TOOLTIP = { backgroundColor: '#0f172a', borderWidth: 0, padding: [8, 12], textStyle: { color: '#f8fafc', fontFamily: FONT, fontSize: 12 } };
const LEGEND = { top: 0, left: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 12, textStyle: AXIS };

/** Firing statuses in the order they stack, each with its colour. */
export const STATUS_COLORS: Record<string, string> = {
  delivered: '#0d9488', fired: '#4f46e5', retrying: '#d97706', dead: '#dc2626', suppressed: '#94a3b8',
};
export const ROLE_COLORS: Record<string, string> = { fold: '#4f46e5', archive: '#0d9488', triggers: '#d97706' };

interface Param { dataIndex: number; seriesName: string; value: unknown; marker?: string }

/** Firings per UTC day and status, for days from the first to the last firing (empty days included). */
export function firingsByDay(firings: Pick<Firing, 'firedAt' | 'status'>[]): { days: string[]; byStatus: Record<string, number[]> } {
  if (firings.length === 0) return { days: [], byStatus: {} };
  const dayOf = (iso: string) => iso.slice(0, 10);
  const sorted = firings.map((f) => dayOf(new Date(f.firedAt).toISOString())).sort();
  const days: string[] = [];
  for (let d = new Date(`${sorted[0]}T00:00:00Z`); dayOf(d.toISOString()) <= sorted[sorted.length - 1]; d = new Date(d.getTime() + 86_400_000)) days.push(dayOf(d.toISOString()));
  const byStatus: Record<string, number[]> = {};
  for (const f of firings) {
    const i = days.indexOf(dayOf(new Date(f.firedAt).toISOString()));
    (byStatus[f.status] ??= days.map(() => 0))[i]++;
  }
  return { days, byStatus };
}

/** The rule's recent firings per day, stacked by what became of them. */
export function firingsOption(firings: Pick<Firing, 'firedAt' | 'status'>[]): EChartsCoreOption {
  const { days, byStatus } = firingsByDay(firings);
  const statuses = Object.keys(STATUS_COLORS).filter((s) => byStatus[s]).concat(Object.keys(byStatus).filter((s) => !(s in STATUS_COLORS)));
  return {
    animationDuration: 300,
    aria: { enabled: true },
    legend: LEGEND,
    grid: { left: 44, right: 16, top: 36, bottom: 28 },
    tooltip: { ...TOOLTIP, trigger: 'axis', axisPointer: { type: 'shadow' } },
    xAxis: { type: 'category', data: days, axisLabel: { ...AXIS, formatter: formatDay }, axisTick: { show: false }, axisLine: { lineStyle: { color: '#cbd5e1' } } },
    yAxis: { type: 'value', minInterval: 1, splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatCompact } },
    series: statuses.map((s, i) => ({
      name: s.charAt(0).toUpperCase() + s.slice(1),
      type: 'bar',
      stack: 'firings',
      barMaxWidth: 40,
      itemStyle: { color: STATUS_COLORS[s] ?? SERIES_COLORS[i % SERIES_COLORS.length] },
      data: byStatus[s],
    })),
  };
}

/** Fired and converted per day as bars, the conversion rate as a line on its own axis. */
export function conversionOption(c: TriggerConversions): EChartsCoreOption {
  const days = c.days.map((d) => d.date);
  return {
    animationDuration: 300,
    aria: { enabled: true, label: { description: `${c.fired} firings, ${c.converted} reached a later stage within ${c.window} (${formatPercent(c.rate)}).` } },
    legend: LEGEND,
    grid: { left: 44, right: 48, top: 36, bottom: 28 },
    tooltip: {
      ...TOOLTIP,
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter: (ps: Param[]) => {
        const d = c.days[ps[0].dataIndex];
        return `<b>${escapeHtml(formatDay(d.date))}</b><br>${formatCount(d.fired)} fired · ${formatCount(d.converted)} converted<br>${formatPercent(d.fired ? d.converted / d.fired : null)} within ${escapeHtml(c.window)}`;
      },
    },
    xAxis: { type: 'category', data: days, axisLabel: { ...AXIS, formatter: formatDay }, axisTick: { show: false }, axisLine: { lineStyle: { color: '#cbd5e1' } } },
    yAxis: [
      { type: 'value', minInterval: 1, splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatCompact } },
      { type: 'value', min: 0, max: 1, splitLine: { show: false }, axisLabel: { ...AXIS, formatter: (v: number) => formatPercent(v) } },
    ],
    series: [
      { name: 'Fired', type: 'bar', barMaxWidth: 28, itemStyle: { color: '#4f46e5', borderRadius: [4, 4, 0, 0] }, data: c.days.map((d) => d.fired) },
      { name: 'Converted', type: 'bar', barMaxWidth: 28, itemStyle: { color: '#0d9488', borderRadius: [4, 4, 0, 0] }, data: c.days.map((d) => d.converted) },
      { name: 'Rate', type: 'line', yAxisIndex: 1, symbol: 'circle', symbolSize: 6, itemStyle: { color: '#d97706' }, data: c.days.map((d) => (d.fired ? d.converted / d.fired : null)) },
    ],
  };
}

/** "fold · events #2": a partition's label, the topic cut to its last part. */
export function partitionLabel(p: PartitionLag): string {
  const short = p.topic.split('.').pop() ?? p.topic;
  return `${p.role} · ${short} #${p.partition}`;
}

/** Lag per partition as horizontal bars, one colour per consumer group's role. */
export function lagOption(lag: PartitionLag[]): EChartsCoreOption {
  const rows = [...lag].reverse();
  return {
    animation: false,
    aria: { enabled: true, label: { description: `Kafka lag: ${lag.map((p) => `${partitionLabel(p)} ${p.lag}`).join(', ')}` } },
    grid: { left: 8, right: 56, top: 8, bottom: 8, containLabel: true },
    tooltip: { ...TOOLTIP, trigger: 'item', formatter: (p: Param) => {
      const r = rows[p.dataIndex];
      return `<b>${escapeHtml(r.group)}</b><br>${escapeHtml(r.topic)} partition ${r.partition}<br>${formatCount(r.lag)} behind · committed ${r.committed ?? 'nothing yet'} of ${formatCount(r.end)}`;
    } },
    xAxis: { type: 'value', minInterval: 1, splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatCompact } },
    yAxis: { type: 'category', data: rows.map(partitionLabel), axisTick: { show: false }, axisLine: { show: false }, axisLabel: { ...AXIS, color: '#0f172a', interval: 0 } },
    series: [{
      name: 'Lag',
      type: 'bar',
      barMaxWidth: 16,
      data: rows.map((r) => ({ value: r.lag, itemStyle: { color: ROLE_COLORS[r.role] ?? '#64748b', borderRadius: [0, 4, 4, 0] } })),
      label: { show: true, position: 'right', ...AXIS, color: '#0f172a', formatter: (p: Param) => formatCount(p.value as number) },
    }],
  };
}

/**
 * Rates over the sampled history: one line per "service.key", named by the label given. With
 * `emptyText`, a history where every line is absent or zero says so in words instead of an empty frame
 * (no error has a counter until it first happens, so the errors chart would otherwise draw nothing).
 */
export function ratesOption(history: PipelinePoint[], lines: [key: string, label: string][], emptyText?: string): EChartsCoreOption {
  const times = history.map((p) => p.at);
  const series = lines.map(([key, label], i) => ({
    name: label,
    type: 'line',
    showSymbol: false,
    connectNulls: false,
    lineStyle: { width: 2 },
    itemStyle: { color: SERIES_COLORS[i % SERIES_COLORS.length] },
    data: history.map((p) => (p.perSecond[key] == null ? null : round(p.perSecond[key]!))),
  }));
  const nothing = series.every((s) => s.data.every((v) => !v));
  return {
    animation: false,
    aria: { enabled: true },
    legend: LEGEND,
    // More than three names wrap the legend onto a second row, which would sit on the plot.
    grid: { left: 48, right: 16, top: lines.length > 3 ? 60 : 36, bottom: 28 },
    tooltip: { ...TOOLTIP, trigger: 'axis' },
    title: emptyText && nothing ? { text: emptyText, left: 'center', top: 'middle', textStyle: { ...AXIS, fontSize: 14, fontWeight: 'normal' } } : undefined,
    xAxis: { type: 'category', boundaryGap: false, data: times, axisLabel: { ...AXIS, formatter: (t: string) => new Date(t).toISOString().slice(11, 19) }, axisTick: { show: false } },
    // Rates of a quiet pipeline are fractions: whole-number labels would read 0, 0, 0, 1, 1.
    yAxis: { type: 'value', min: 0, minInterval: 0.1, splitLine: GRID_LINE, axisLabel: { ...AXIS, formatter: formatAxisRate } },
    series,
  };
}

/** A rate on an axis: one decimal below 10 (0.2, 1.5), compact above (950, 1.2k). */
export function formatAxisRate(perSecond: number): string {
  return Math.abs(perSecond) < 10 ? `${round(perSecond)}` : formatCompact(perSecond);
}

export interface HealthFigures {
  totalLag: number | null;
  foldPerSecond: number | null;
  spoolBytes: number | null;
  collectorRequests: number | null;
  /** 5xx and rejected events as a share of the collector's requests, over the last interval. */
  collectorErrorShare: number | null;
  batchFailures: number;
  away: string[];
}

/** The headline figures of a pipeline report; null where a figure is not known yet (the first sample has no rates). */
export function healthFigures(r: PipelineReport): HealthFigures {
  const c = r.services.collector;
  const requests = c.perSecond.requests ?? null;
  const errors = (c.perSecond.serverErrors ?? 0);
  return {
    totalLag: r.lagError ? null : r.lag.reduce((n, p) => n + p.lag, 0),
    foldPerSecond: r.services.engine.perSecond.folded ?? null,
    spoolBytes: c.levels.spoolBytes ?? null,
    collectorRequests: requests,
    collectorErrorShare: requests == null ? null : requests > 0 ? errors / requests : 0,
    batchFailures: Object.entries(r.services.engine.totals).filter(([k]) => k.startsWith('batchFailures.')).reduce((n, [, v]) => n + v, 0),
    away: Object.entries(r.services).filter(([, s]) => s.status === 'unreachable').map(([name]) => name),
  };
}

export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond == null || !Number.isFinite(perSecond)) return '–';
  return perSecond >= 100 ? `${formatCompact(Math.round(perSecond))}/s` : `${round(perSecond)}/s`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let n = bytes;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const round = (n: number) => Math.round(n * 10) / 10;
