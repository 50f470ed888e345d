// Stage entries per day or week for one topic, one line per stage, optionally for one channel.
import { drawChart } from '../charts';
import { channelColor, channelSeries, stageColor, trendOption } from '../chart-options';
import { clear, h, icon, select } from '../dom';
import { formatCount } from '../format';
import { formatRoute, link } from '../route';
import type { Trends } from '../types';
import type { Ctx } from './context';
import { filterBar, filtersOf, rangeText } from './filters';

export async function renderTrends(ctx: Ctx): Promise<void> {
  const topic = ctx.route.id || ctx.catalog.topics[0]?.id;
  if (!topic) {
    clear(ctx.main, h('div', { class: 'empty card' }, h('h3', null, 'No topics yet')));
    return;
  }
  if (!ctx.route.id) return ctx.go(link('trends', topic, ctx.route), true);
  const f = filtersOf(ctx.route);
  const interval = ctx.route.params.interval === 'week' ? 'week' : 'day';
  const stacked = ctx.route.params.stacked === '1';
  const split = ctx.route.params.split === 'channel';
  const stage = Math.max(1, Math.min(ctx.catalog.stages.length || 1, Number(ctx.route.params.stage) || 1));
  const setParams = (changes: Record<string, string>) => {
    const params = { ...ctx.route.params, ...changes };
    for (const [k, v] of Object.entries(changes)) if (!v) delete params[k];
    ctx.go(formatRoute({ ...ctx.route, params }));
  };
  const segmented = (name: string, options: [string, string][], current: string, on: (v: string) => void) =>
    h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': name, 'data-filter': name.toLowerCase() },
      options.map(([v, l]) => h('button', { type: 'button', role: 'radio', 'aria-checked': String(v === current), class: v === current ? 'active' : '', 'data-value': v, onclick: () => on(v) }, l)));

  const totals = h('section', { class: 'chips-row' });
  const chartCard = h('section', { class: 'card chart-card' },
    h('div', { class: 'card-head' }, h('h2', null, 'Stage entries'), h('span', { class: 'muted small' }, split
      ? `Customers entering ${ctx.catalog.stages[stage - 1] ?? `stage ${stage}`} per ${interval}, by the channel that moved them`
      : `Customers entering each stage per ${interval}${f.channel ? ` on ${f.channel}` : ''}`)),
    h('div', { id: 'trend-chart', class: 'chart chart-lg skeleton', role: 'img' }));
  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null,
        h('div', { class: 'eyebrow' }, 'Trend'),
        select({ class: 'input title-select', 'aria-label': 'Topic', 'data-filter': 'topic', onchange: (e: Event) => ctx.go(link('trends', (e.target as HTMLSelectElement).value, ctx.route, { interval, ...(stacked ? { stacked: '1' } : {}) })) },
          ctx.catalog.topics.map((t) => [t.id, t.name] as [string, string]), topic),
        h('p', { class: 'subtitle' }, rangeText(f.from, f.to), h('a', { class: 'inline-link', href: link('funnel', topic, ctx.route) }, icon('funnel', 14), 'Funnel'))),
      filterBar(ctx, { channel: true })),
    h('div', { class: 'toolbar' },
      h('span', { class: 'filter-label' }, 'Interval'), segmented('Interval', [['day', 'Daily'], ['week', 'Weekly']], interval, (v) => setParams({ interval: v === 'day' ? '' : v })),
      h('span', { class: 'filter-label' }, 'Style'), segmented('Style', [['', 'Lines'], ['1', 'Stacked']], stacked ? '1' : '', (v) => setParams({ stacked: v })),
      h('span', { class: 'filter-label' }, 'Lines'), segmented('Split', [['', 'Per stage'], ['channel', 'Per channel']], split ? 'channel' : '', (v) => setParams({ split: v })),
      split ? segmented('Stage', ctx.catalog.stages.map((name, i) => [String(i + 1), name] as [string, string]), String(stage), (v) => setParams({ stage: v === '1' ? '' : v })) : null),
    totals, chartCard);

  let trends: Trends;
  try {
    trends = await ctx.api.trends({ topic, from: f.from, to: f.to, interval, channel: f.channel, byChannel: split }, ctx.scope.signal);
    if (split) trends = channelSeries(trends, stage);
  } catch (e) {
    if (!ctx.scope.disposed) ctx.fail(e, chartCard);
    return;
  }
  if (ctx.scope.disposed) return;
  clear(totals, trends.series.map((s) => h('div', { class: 'chip-stat' },
    h('span', { class: 'dot', style: { background: s.channel ? channelColor(s.channel) : stageColor(s.stage) } }), h('span', null, s.name),
    h('b', null, formatCount(s.points.reduce((n, p) => n + p.entries, 0))))));
  const el = chartCard.querySelector<HTMLElement>('#trend-chart')!;
  el.classList.remove('skeleton');
  if (trends.series.every((s) => s.points.length === 0)) {
    el.replaceWith(h('div', { class: 'empty' }, h('h3', null, 'No stage entries in this period')));
    return;
  }
  drawChart(el, trendOption(trends, stacked), 'trend', ctx.scope);
}
