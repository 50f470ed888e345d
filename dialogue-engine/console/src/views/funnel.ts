// One topic's funnel: bars per stage with conversion and time between stages, broken down on demand.
import { drawChart } from '../charts';
import { breakdownConversionOption, breakdownOption, funnelOption, stageColor } from '../chart-options';
import { clear, h, icon, select } from '../dom';
import { biggestDropOff, formatCount, formatDuration, formatPercent, overallConversion, windowLabel } from '../format';
import { formatRoute, link } from '../route';
import type { Breakdown, Funnel } from '../types';
import type { Ctx } from './context';
import { filterBar, filtersOf, rangeText } from './filters';

export const BREAKDOWNS: [string, string][] = [['', 'None'], ['channel', 'Channel'], ['firstChannel', 'First channel'], ['cohortWeek', 'Cohort week'], ['trait', 'Trait']];
export const KNOWN_TRAITS = ['region', 'ageBand', 'gender', 'points'];
const ORDERS: [string, string, string][] = [
  ['dialogue', 'Stage reached', 'A customer counts at a stage once their dialogue reached it or a deeper one (agrees with the dialogue state)'],
  ['strict', 'Strict order', 'Each stage needs its own interaction, after the previous stage\'s, within the window'],
];

/** The API's breakdown parameter from the switch and the trait name: "trait:region", or '' for a trait not named yet. */
export function breakdownParam(kind: string, trait: string): Breakdown {
  if (kind !== 'trait') return kind as Breakdown;
  const name = trait.trim();
  return name ? `trait:${name}` : '';
}

export async function renderFunnel(ctx: Ctx): Promise<void> {
  const topic = ctx.route.id || ctx.catalog.topics[0]?.id;
  if (!topic) {
    clear(ctx.main, h('div', { class: 'empty card' }, h('h3', null, 'No topics yet'), h('p', null, 'Publish a topic catalog (PUT /api/catalog) to see funnels.')));
    return;
  }
  if (!ctx.route.id) return ctx.go(link('funnel', topic, ctx.route), true);

  const f = filtersOf(ctx.route);
  const breakdown = (ctx.route.params.breakdown ?? '') as Breakdown;
  const order = ctx.route.params.order === 'strict' ? 'strict' : 'dialogue';
  const kind = breakdown.startsWith('trait:') ? 'trait' : breakdown;
  const setParams = (changes: Record<string, string>) => {
    const params = { ...ctx.route.params, ...changes };
    for (const [k, v] of Object.entries(changes)) if (!v) delete params[k];
    ctx.go(formatRoute({ ...ctx.route, params }));
  };

  const topicSelect = select({ class: 'input title-select', 'aria-label': 'Topic', 'data-filter': 'topic', onchange: (e: Event) => ctx.go(link('funnel', (e.target as HTMLSelectElement).value, ctx.route, ctx.route.params.breakdown ? { breakdown: ctx.route.params.breakdown } : {})) },
    ctx.catalog.topics.map((t) => [t.id, t.name] as [string, string]), topic);
  const traitInput = h('input', { class: 'input trait-input', list: 'known-traits', placeholder: 'trait name', 'aria-label': 'Trait name', 'data-filter': 'breakdown-trait',
    value: breakdown.startsWith('trait:') ? breakdown.slice(6) : '',
    onchange: (e: Event) => setParams({ breakdown: breakdownParam('trait', (e.target as HTMLInputElement).value) }) });
  const switcher = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Breakdown', 'data-filter': 'breakdown' },
    BREAKDOWNS.map(([value, label]) => h('button', { type: 'button', role: 'radio', 'aria-checked': String(kind === value), class: kind === value ? 'active' : '', 'data-value': value,
      onclick: () => {
        if (value === 'trait') {
          const name = traitInput.value || KNOWN_TRAITS[0];
          setParams({ breakdown: breakdownParam('trait', name) });
        } else setParams({ breakdown: value });
      } }, label)));

  const kpis = h('section', { class: 'kpis' }, [1, 2, 3, 4].map(() => h('div', { class: 'kpi skeleton' })));
  const chartCard = h('section', { class: 'card chart-card' },
    h('div', { class: 'card-head' }, h('h2', null, 'Funnel'), h('span', { class: 'muted small' }, 'Distinct customers reaching each stage · share of entry inside the bars')),
    h('div', { id: 'funnel-chart', class: 'chart chart-lg skeleton', role: 'img', 'aria-label': 'Funnel chart' }));
  const steps = h('section', { class: 'steps', 'aria-label': 'Stages' });
  const breakdownArea = h('div', { class: 'breakdown-area' });
  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null,
        h('div', { class: 'eyebrow' }, 'Funnel'),
        topicSelect,
        h('p', { class: 'subtitle' }, `${rangeText(f.from, f.to)} · ${windowLabel(f.window)} conversion window`,
          h('a', { class: 'inline-link', href: link('trends', topic, ctx.route) }, icon('trends', 14), 'Trend'))),
      filterBar(ctx, { window: true, channel: true, segment: true })),
    h('div', { class: 'toolbar' }, h('span', { class: 'filter-label' }, 'Breakdown'), switcher,
      kind === 'trait' ? traitInput : null,
      h('datalist', { id: 'known-traits' }, KNOWN_TRAITS.map((t) => h('option', { value: t }))),
      h('span', { class: 'toolbar-gap' }),
      h('span', { class: 'filter-label' }, 'Count'),
      h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Counting', 'data-filter': 'order' },
        ORDERS.map(([value, label, title]) => h('button', { type: 'button', role: 'radio', title, 'aria-checked': String(order === value), class: order === value ? 'active' : '', 'data-value': value,
          onclick: () => setParams({ order: value === 'dialogue' ? '' : value }) }, label)))),
    kpis, chartCard, steps, breakdownArea);

  let funnel: Funnel;
  try {
    funnel = await ctx.api.funnel(topic, { from: f.from, to: f.to, window: f.window, channel: f.channel, segment: f.segment, breakdown, order: order === 'strict' ? 'strict' : '' }, ctx.scope.signal);
  } catch (e) {
    if (!ctx.scope.disposed) { kpis.remove(); steps.remove(); ctx.fail(e, chartCard); }
    return;
  }
  if (ctx.scope.disposed) return;
  const stages = funnel.stages;
  const entering = stages[0]?.customers ?? 0;
  const drop = biggestDropOff(stages);
  clear(kpis,
    kpi('Entering', formatCount(entering), stages[0]?.name ?? ''),
    kpi('Converted', formatCount(stages[stages.length - 1]?.customers ?? 0), stages[stages.length - 1]?.name ?? ''),
    kpi('Overall conversion', formatPercent(overallConversion(stages)), `within ${windowLabel(funnel.window || f.window)}`),
    kpi('Biggest drop-off', drop ? drop.name : '–', drop ? `${formatPercent(1 - (drop.conversionFromPrevious ?? 0))} lost before it` : ''));

  const chartEl = chartCard.querySelector<HTMLElement>('#funnel-chart')!;
  chartEl.classList.remove('skeleton');
  if (entering === 0) {
    chartEl.replaceWith(h('div', { class: 'empty' }, h('h3', null, 'Nobody entered this funnel'), h('p', null, 'No customer reached the first stage in this period with these filters.')));
  } else {
    chartEl.dataset.stages = JSON.stringify(stages.map((s) => ({ name: s.name, customers: s.customers })));
    drawChart(chartEl, (narrow) => funnelOption({ ...funnel, topicName: funnel.topicName || ctx.topicName(topic) }, narrow), 'funnel', ctx.scope);
  }

  clear(steps, stages.map((s, i) => h('div', { class: 'step', 'data-stage': String(s.stage) },
    h('div', { class: 'step-head' }, h('span', { class: 'dot', style: { background: stageColor(s.stage) } }), h('b', null, s.name)),
    h('div', { class: 'step-value' }, formatCount(s.customers)),
    h('div', { class: 'bar' }, h('span', { style: { width: `${Math.min(100, (s.conversionFromFirst ?? 0) * 100)}%`, background: stageColor(s.stage) } })),
    h('dl', null,
      h('dt', null, 'of entry'), h('dd', null, formatPercent(s.conversionFromFirst)),
      i > 0 ? [h('dt', null, 'of previous'), h('dd', null, formatPercent(s.conversionFromPrevious)),
        h('dt', null, 'median time'), h('dd', { 'data-metric': 'median' }, formatDuration(s.medianTimeFromPrevious)),
        h('dt', null, 'p90 time'), h('dd', { 'data-metric': 'p90' }, formatDuration(s.p90TimeFromPrevious))] : h('dt', { class: 'muted' }, 'where the dialogue starts')),
    i < stages.length - 1 && s.customers > stages[i + 1].customers
      ? h('a', { class: 'inline-link small', href: link('segments', '', ctx.route, { topic, minStage: String(s.stage), notConverted: '1' }),
        title: 'Open the segment builder with the customers who reached this stage and have not converted' }, icon('segments', 14), `${formatCount(s.customers - stages[i + 1].customers)} stalled here`)
      : null)));

  if (breakdown && funnel.breakdown.length) {
    const by = kind === 'trait' ? breakdown.slice(6) : BREAKDOWNS.find(([v]) => v === kind)?.[1] ?? kind;
    const grouped = h('div', { id: 'breakdown-chart', class: 'chart chart-md', role: 'img' });
    const conv = h('div', { id: 'breakdown-conversion-chart', class: 'chart', role: 'img', style: { height: `${Math.max(160, 36 * funnel.breakdown.length + 24)}px` } });
    clear(breakdownArea,
      h('section', { class: 'grid-2' },
        h('div', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, `By ${by.toLowerCase()}`), h('span', { class: 'muted small' }, 'Customers per stage')), grouped),
        h('div', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, 'Conversion'), h('span', { class: 'muted small' }, `Entry to ${stages[stages.length - 1]?.name ?? 'last stage'}, by ${by.toLowerCase()}`)), conv)));
    drawChart(grouped, breakdownOption(funnel, breakdown), 'breakdown', ctx.scope);
    drawChart(conv, breakdownConversionOption(funnel, breakdown), 'breakdown-conversion', ctx.scope);
  } else if (breakdown) {
    clear(breakdownArea, h('div', { class: 'card empty' }, h('p', null, 'No breakdown values in this period.')));
  }
}

function kpi(label: string, value: string, note: string): HTMLElement {
  return h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-note' }, note));
}
