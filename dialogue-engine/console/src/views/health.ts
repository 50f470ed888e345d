// Pipeline health for operators: Kafka lag per partition, the fold rate, the collector's spool and
// request and error rates, polled every few seconds from GET /api/pipeline.
import type { ECharts, EChartsCoreOption } from 'echarts/core';
import { drawChart } from '../charts';
import { clear, h } from '../dom';
import { formatCount, formatPercent } from '../format';
import { formatBytes, formatRate, healthFigures, lagOption, ratesOption } from '../ops-options';
import type { PipelineReport } from '../types';
import type { Ctx } from './context';

export const POLL_MS = 3000;

const THROUGHPUT: [string, string][] = [
  ['engine.folded', 'Folded events'], ['collector.accepted', 'Accepted events'], ['collector.requests', 'Collector requests'],
  ['engine.transitions', 'Stage changes'], ['recommender.requests', 'Recommender requests'],
];
const ERRORS: [string, string][] = [
  ['collector.serverErrors', 'Collector 5xx'], ['collector.clientErrors', 'Collector 4xx'], ['collector.rejected', 'Rejected events'],
  ['recommender.serverErrors', 'Recommender 5xx'], ['engine.batchFailures.fold', 'Fold batch failures'],
  ['engine.batchFailures.archive', 'ClickHouse batch failures'], ['engine.batchFailures.triggers', 'Trigger batch failures'],
];

export async function renderHealth(ctx: Ctx): Promise<void> {
  const kpis = h('section', { class: 'kpis', id: 'health-kpis' }, [1, 2, 3, 4].map(() => h('div', { class: 'kpi skeleton' })));
  const services = h('section', { class: 'chips-row', id: 'health-services' });
  const lagCard = h('section', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, 'Kafka lag'), h('span', { class: 'muted small' }, 'Messages each consumer group has not committed yet, per partition')),
    h('div', { id: 'health-lag-chart', class: 'chart chart-md skeleton', role: 'img' }));
  const ratesCard = h('section', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, 'Throughput'), h('span', { class: 'muted small' }, 'Per second, since this page opened')),
    h('div', { id: 'health-rates-chart', class: 'chart chart-md skeleton', role: 'img' }));
  const errorsCard = h('section', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, 'Errors'), h('span', { class: 'muted small' }, 'Per second: failed requests, rejected events, retried batches')),
    h('div', { id: 'health-errors-chart', class: 'chart chart-md skeleton', role: 'img' }));
  const updated = h('span', { class: 'muted small', id: 'health-updated' }, 'Loading…');
  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null, h('h1', null, 'Pipeline health'), h('p', { class: 'subtitle' }, `Collector → Kafka → engine → ClickHouse, refreshed every ${POLL_MS / 1000} s · `, updated))),
    kpis, services, h('div', { class: 'grid-2' }, lagCard, ratesCard), errorsCard);

  const charts: Record<string, ECharts> = {};
  const draw = (card: HTMLElement, selector: string, name: string, option: EChartsCoreOption) => {
    if (charts[name]) { charts[name].setOption(option, { notMerge: true }); return; }
    const el = card.querySelector<HTMLElement>(selector)!;
    el.classList.remove('skeleton');
    charts[name] = drawChart(el, option, name, ctx.scope);
  };

  const show = (r: PipelineReport) => {
    const f = healthFigures(r);
    const kpi = (label: string, value: string, note: string, id: string, warn = false) =>
      h('div', { class: `kpi${warn ? ' warn' : ''}`, 'data-kpi': id }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-note' }, note));
    clear(kpis,
      kpi('Kafka lag', f.totalLag == null ? '–' : formatCount(f.totalLag), r.lagError ?? `${r.lag.length} partitions`, 'lag', f.totalLag == null),
      kpi('Fold rate', formatRate(f.foldPerSecond), f.foldPerSecond == null ? 'measuring…' : 'events folded per second', 'fold'),
      kpi('Collector spool', formatBytes(f.spoolBytes), f.spoolBytes ? 'waiting for Kafka' : 'empty: Kafka keeps up', 'spool', (f.spoolBytes ?? 0) > 0),
      kpi('Collector errors', formatPercent(f.collectorErrorShare), `of ${formatRate(f.collectorRequests)} requests answered 5xx · ${formatCount(f.batchFailures)} batch retries`, 'errors', (f.collectorErrorShare ?? 0) > 0));
    clear(services, Object.entries(r.services).map(([name, s]) => h('div', { class: 'chip-stat', 'data-service': name, 'data-status': s.status, title: s.error ?? '' },
      h('span', { class: 'dot', style: { background: s.status === 'ok' ? '#0d9488' : s.status === 'unreachable' ? '#dc2626' : '#94a3b8' } }),
      h('span', null, name), h('b', null, s.status))));
    if (r.lagError) lagCard.querySelector('.card-head span')!.textContent = r.lagError;
    draw(lagCard, '#health-lag-chart', 'health-lag', lagOption(r.lag));
    draw(ratesCard, '#health-rates-chart', 'health-rates', ratesOption(r.history, THROUGHPUT.filter(([k]) => r.history.some((p) => k in p.perSecond))));
    draw(errorsCard, '#health-errors-chart', 'health-errors', ratesOption(r.history, ERRORS.filter(([k]) => r.history.some((p) => k in p.perSecond)), 'No errors since this page opened'));
    updated.textContent = `updated ${new Date(r.at).toLocaleTimeString()}`;
    ctx.main.dataset.healthSamples = String(r.history.length);
  };

  const poll = async () => {
    try {
      const report = await ctx.api.pipeline(ctx.scope.signal);
      if (!ctx.scope.disposed) show(report);
    } catch (e) {
      if (ctx.scope.disposed) return;
      updated.textContent = `not updated: ${(e as Error).message}`;
      if (!charts['health-lag']) ctx.fail(e, lagCard);
    }
  };
  await poll();
  const timer = setInterval(() => void poll(), POLL_MS);
  ctx.scope.add(() => clearInterval(timer));
}
