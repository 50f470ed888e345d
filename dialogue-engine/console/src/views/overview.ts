// Every topic's funnel side by side: a small chart each, its overall conversion, sortable.
import { drawChart } from '../charts';
import { miniFunnelOption } from '../chart-options';
import { clear, h, icon, select } from '../dom';
import { biggestDropOff, formatCount, formatPercent, overallConversion, windowLabel } from '../format';
import { formatRoute, link } from '../route';
import type { Funnel } from '../types';
import type { Ctx } from './context';
import { filterBar, filtersOf, rangeText } from './filters';

export type SortKey = 'conversion-desc' | 'conversion-asc' | 'volume' | 'name';
const SORTS: [SortKey, string][] = [['conversion-desc', 'Conversion: high to low'], ['conversion-asc', 'Conversion: low to high'], ['volume', 'Entering customers'], ['name', 'Name']];

export function sortFunnels(funnels: Funnel[], sort: SortKey): Funnel[] {
  const byName = (a: Funnel, b: Funnel) => (a.topicName || a.topic).localeCompare(b.topicName || b.topic);
  const conv = (f: Funnel) => overallConversion(f.stages);
  const entering = (f: Funnel) => f.stages[0]?.customers ?? 0;
  const sorted = [...funnels];
  switch (sort) {
    case 'conversion-asc': return sorted.sort((a, b) => conv(a) - conv(b) || byName(a, b));
    case 'volume': return sorted.sort((a, b) => entering(b) - entering(a) || byName(a, b));
    case 'name': return sorted.sort(byName);
    default: return sorted.sort((a, b) => conv(b) - conv(a) || byName(a, b));
  }
}

export async function renderOverview(ctx: Ctx): Promise<void> {
  const f = filtersOf(ctx.route);
  const sort = (ctx.route.params.sort as SortKey) || 'conversion-desc';
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Totals' }, [1, 2, 3, 4].map(() => h('div', { class: 'kpi skeleton' })));
  const grid = h('section', { class: 'topic-grid', 'data-testid': 'topic-grid' }, [1, 2, 3, 4, 5, 6].map(() => h('div', { class: 'card topic-card skeleton' })));
  const sortSelect = select({ class: 'input', 'data-filter': 'sort', 'aria-label': 'Sort topics',
    onchange: (e: Event) => ctx.go(formatRoute({ ...ctx.route, params: { ...ctx.route.params, sort: (e.target as HTMLSelectElement).value } })) }, SORTS, sort);
  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null, h('h1', null, 'Topic overview'), h('p', { class: 'subtitle' }, `Every topic's dialogue funnel · ${rangeText(f.from, f.to)} · ${windowLabel(f.window)} window`)),
      filterBar(ctx, { window: true })),
    kpis,
    h('div', { class: 'section-head' }, h('h2', null, 'Topics'), h('label', { class: 'filter' }, h('span', { class: 'filter-label' }, 'Sort'), sortSelect)),
    grid);

  let funnels: Funnel[];
  try {
    funnels = (await ctx.api.funnels({ from: f.from, to: f.to, window: f.window }, ctx.scope.signal)).funnels;
  } catch (e) {
    if (!ctx.scope.disposed) { kpis.remove(); ctx.fail(e, grid); }
    return;
  }
  if (ctx.scope.disposed) return;

  const entering = funnels.reduce((n, fu) => n + (fu.stages[0]?.customers ?? 0), 0);
  const converted = funnels.reduce((n, fu) => n + (fu.stages[fu.stages.length - 1]?.customers ?? 0), 0);
  const ranked = sortFunnels(funnels.filter((fu) => (fu.stages[0]?.customers ?? 0) > 0), 'conversion-desc');
  clear(kpis,
    kpi('Customers entering', formatCount(entering), `${funnels.length} topics`),
    kpi('Converted', formatCount(converted), `${formatPercent(entering ? converted / entering : 0)} of entering`),
    kpi('Best converting', ranked[0] ? ctx.topicName(ranked[0].topic) : '–', ranked[0] ? formatPercent(overallConversion(ranked[0].stages)) : ''),
    kpi('Needs attention', ranked.length > 1 ? ctx.topicName(ranked[ranked.length - 1].topic) : '–',
      ranked.length > 1 ? `${formatPercent(overallConversion(ranked[ranked.length - 1].stages))} conversion` : ''));

  if (funnels.length === 0) {
    clear(grid, h('div', { class: 'empty card' }, h('h3', null, 'No dialogues in this period'), h('p', null, 'Pick a longer date range, or check that events are flowing.')));
    return;
  }
  clear(grid, sortFunnels(funnels, sort).map((fu) => topicCard(ctx, fu)));
  for (const card of grid.querySelectorAll<HTMLElement>('[data-topic]')) {
    const fu = funnels.find((x) => x.topic === card.dataset.topic)!;
    drawChart(card.querySelector<HTMLElement>('.mini-chart')!, miniFunnelOption({ ...fu, topicName: fu.topicName || ctx.topicName(fu.topic) }), 'mini-funnel', ctx.scope);
  }
}

function kpi(label: string, value: string, note: string): HTMLElement {
  return h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value', title: value }, value), h('div', { class: 'kpi-note' }, note));
}

function topicCard(ctx: Ctx, fu: Funnel): HTMLElement {
  const conv = overallConversion(fu.stages);
  const drop = biggestDropOff(fu.stages);
  const href = link('funnel', fu.topic, ctx.route);
  return h('a', { class: 'card topic-card', href, 'data-topic': fu.topic, 'data-conversion': String(conv) },
    h('div', { class: 'topic-card-head' },
      h('div', null, h('h3', null, fu.topicName || ctx.topicName(fu.topic)), h('div', { class: 'muted small' }, fu.topic)),
      h('div', { class: 'conversion' }, h('div', { class: 'conversion-value' }, formatPercent(conv)), h('div', { class: 'muted small' }, 'conversion'))),
    h('div', { class: 'mini-chart', role: 'img' }),
    h('div', { class: 'topic-card-foot' },
      h('span', null, h('b', null, formatCount(fu.stages[0]?.customers ?? 0)), ' entering'),
      drop ? h('span', { class: 'drop', title: 'The stage that keeps the smallest share of the one before it' }, `Biggest drop: ${drop.name} (${formatPercent(1 - (drop.conversionFromPrevious ?? 0))} lost)`) : null,
      h('span', { class: 'go' }, 'Open', icon('funnel', 14))));
}
