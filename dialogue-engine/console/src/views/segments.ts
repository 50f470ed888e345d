// The segment builder: conditions on dialogues, traits and activity, a live count, the customers, CSV, save.
import { ApiError } from '../api';
import {
  conditionsKey, describe, emptyState, fromConditions, newDialogueRow, newTraitRow, segmentId, toConditions, TRAIT_OPS, validate,
  type BuilderState,
} from '../conditions';
import { clear, debounce, h, icon, select, toast } from '../dom';
import { formatCount, isoDate } from '../format';
import { formatRoute } from '../route';
import type { Conditions, SavedSegment, SegmentPage } from '../types';
import type { Ctx } from './context';
import { KNOWN_TRAITS } from './funnel';

const PAGE_SIZE = 25;

/** The builder keeps its state while the marketer looks at other pages. */
let state: BuilderState | null = null;
let current: { id: string; name: string } = { id: '', name: '' };

/** Forgets the form (sign-out, tests). */
export function resetBuilder(): void {
  state = null;
  current = { id: '', name: '' };
}

export async function renderSegments(ctx: Ctx): Promise<void> {
  const p = ctx.route.params;
  if (p.topic) {
    // Opened from a funnel stage: the customers who reached it and did not convert.
    state = emptyState();
    state.dialogue.push({ ...newDialogueRow(p.topic), minStage: p.minStage ?? '1', withinDays: '', notConverted: p.notConverted === '1' });
    current = { id: '', name: '' };
    ctx.go(formatRoute({ page: 'segments', id: '', params: {} }), true);
    return;
  }
  state ??= emptyState();
  const s = state;
  const stageOptions = ctx.catalog.stages.map((name, i) => [String(i + 1), `${i + 1} · ${name}`] as [string, string]);
  const topicOptions: [string, string][] = [['', 'Choose a topic…'], ...ctx.catalog.topics.map((t) => [t.id, t.name] as [string, string])];

  const form = h('div', { class: 'builder', 'data-testid': 'segment-builder' });
  const errors = h('ul', { class: 'form-errors', 'aria-live': 'polite' });
  const countValue = h('div', { id: 'segment-count', class: 'count-value', 'data-state': 'idle' }, '–');
  const summary = h('div', { class: 'count-summary muted' });
  const list = h('div', { class: 'customer-list', 'data-testid': 'segment-customers' });
  const pager = h('div', { class: 'pager' });
  const nameInput = h('input', { class: 'input', id: 'segment-name', placeholder: 'Segment name, e.g. Spa readers who did not book', value: current.name, 'aria-label': 'Segment name' });
  const savedSelect = select({ class: 'input', 'aria-label': 'Saved segments', 'data-filter': 'saved', onchange: async (e: Event) => {
    const id = (e.target as HTMLSelectElement).value;
    if (!id) return;
    const seg = (await ctx.segments()).find((x) => x.id === id);
    if (!seg) return;
    state = fromConditions(seg.conditions);
    current = { id: seg.id, name: seg.name };
    renderSegments(ctx);
  } }, [['', 'Open a saved segment…']], current.id);
  const exportLink = h('a', { id: 'export-link', class: 'inline-link small', hidden: true }, icon('download', 14), 'Download again');
  let page = 1;

  // --- the form -------------------------------------------------------------------------------
  const renderForm = () => {
    clear(form,
      h('fieldset', { class: 'group' },
        h('legend', null, 'Dialogues', h('span', { class: 'muted small' }, 'Where customers are in a topic')),
        s.dialogue.map((d, i) => h('div', { class: 'cond-row', 'data-condition': `dialogue-${i}` },
          select({ class: 'input grow', 'aria-label': 'Topic', 'data-field': 'topic', onchange: (e: Event) => { d.topic = (e.target as HTMLSelectElement).value; changed(); } }, topicOptions, d.topic),
          h('label', { class: 'inline' }, 'at stage ≥',
            select({ class: 'input', 'data-field': 'minStage', onchange: (e: Event) => { d.minStage = (e.target as HTMLSelectElement).value; changed(); } }, [['', 'any'], ...stageOptions], d.minStage)),
          h('label', { class: 'inline' }, 'within',
            h('input', { class: 'input num', type: 'number', min: '1', step: '1', placeholder: 'any', value: d.withinDays, 'data-field': 'withinDays', oninput: (e: Event) => { d.withinDays = (e.target as HTMLInputElement).value; changed(); } }), 'days'),
          h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: d.notConverted, 'data-field': 'notConverted', onchange: (e: Event) => { d.notConverted = (e.target as HTMLInputElement).checked; changed(); } }), 'not converted'),
          removeButton(() => { s.dialogue.splice(i, 1); renderForm(); changed(); }))),
        h('button', { type: 'button', class: 'btn ghost', 'data-action': 'add-dialogue', onclick: () => { s.dialogue.push(newDialogueRow(ctx.catalog.topics[0]?.id ?? '')); renderForm(); changed(); } }, icon('plus', 14), 'Dialogue condition')),
      h('fieldset', { class: 'group' },
        h('legend', null, 'Traits', h('span', { class: 'muted small' }, 'What we know about them')),
        s.traits.map((t, i) => h('div', { class: 'cond-row', 'data-condition': `trait-${i}` },
          h('input', { class: 'input', list: 'segment-traits', placeholder: 'trait', value: t.name, 'aria-label': 'Trait name', 'data-field': 'name', oninput: (e: Event) => { t.name = (e.target as HTMLInputElement).value; changed(); } }),
          select({ class: 'input', 'aria-label': 'Operator', 'data-field': 'op', onchange: (e: Event) => { t.op = (e.target as HTMLSelectElement).value as typeof t.op; changed(); } }, TRAIT_OPS.map((o) => [o.op, o.label] as [string, string]), t.op),
          h('input', { class: 'input grow', placeholder: 'value', value: t.value, 'aria-label': 'Trait value', 'data-field': 'value', oninput: (e: Event) => { t.value = (e.target as HTMLInputElement).value; changed(); } }),
          removeButton(() => { s.traits.splice(i, 1); renderForm(); changed(); }))),
        h('datalist', { id: 'segment-traits' }, KNOWN_TRAITS.map((t) => h('option', { value: t }))),
        h('button', { type: 'button', class: 'btn ghost', 'data-action': 'add-trait', onclick: () => { s.traits.push(newTraitRow()); renderForm(); changed(); } }, icon('plus', 14), 'Trait condition')),
      h('fieldset', { class: 'group' },
        h('legend', null, 'Activity', h('span', { class: 'muted small' }, 'Recency, frequency and value of orders')),
        h('div', { class: 'cond-row wrap' },
          h('label', { class: 'inline' }, 'Value tier',
            select({ class: 'input', 'data-field': 'valueTier', onchange: (e: Event) => { s.activity.valueTier = (e.target as HTMLSelectElement).value as typeof s.activity.valueTier; changed(); } },
              [['', 'any'], ['high', 'High'], ['medium', 'Medium'], ['low', 'Low'], ['none', 'No orders']], s.activity.valueTier)),
          h('label', { class: 'inline' }, 'ordered within',
            h('input', { class: 'input num', type: 'number', min: '0', placeholder: 'any', value: s.activity.recencyDays, 'data-field': 'recencyDays', oninput: (e: Event) => { s.activity.recencyDays = (e.target as HTMLInputElement).value; changed(); } }), 'days'),
          h('label', { class: 'inline' }, 'at least',
            h('input', { class: 'input num', type: 'number', min: '0', placeholder: 'any', value: s.activity.minOrders, 'data-field': 'minOrders', oninput: (e: Event) => { s.activity.minOrders = (e.target as HTMLInputElement).value; changed(); } }), 'orders'),
          h('label', { class: 'inline' }, 'revenue ≥',
            h('input', { class: 'input num', type: 'number', min: '0', step: 'any', placeholder: 'any', value: s.activity.minRevenue, 'data-field': 'minRevenue', oninput: (e: Event) => { s.activity.minRevenue = (e.target as HTMLInputElement).value; changed(); } })))),
      h('label', { class: 'check suppress' },
        h('input', { type: 'checkbox', checked: s.excludeSuppressed, 'data-field': 'excludeSuppressed', onchange: (e: Event) => { s.excludeSuppressed = (e.target as HTMLInputElement).checked; changed(); } }),
        h('span', null, h('b', null, 'Leave out suppressed customers'), h('span', { class: 'muted small block' }, 'Customers the business marked as abusive never get offers'))),
      errors);
  };

  // --- the live count and the list -------------------------------------------------------------
  let lastKey = '';
  let inflight: AbortController | null = null;
  const refresh = debounce(async () => {
    const problems = validate(s);
    clear(errors, problems.map((p) => h('li', null, p)));
    if (problems.length) {
      countValue.dataset.state = 'invalid';
      return;
    }
    const conditions = toConditions(s);
    const key = conditionsKey(conditions);
    if (key === lastKey) return;
    lastKey = key;
    page = 1;
    inflight?.abort();
    const abort = (inflight = new AbortController());
    ctx.scope.add(() => abort.abort());
    countValue.dataset.state = 'loading';
    summary.textContent = describe(conditions, ctx.catalog.stages, ctx.topicName);
    try {
      const count = await ctx.api.segmentCount(conditions, abort.signal);
      if (abort.signal.aborted) return;
      countValue.textContent = formatCount(count);
      countValue.dataset.count = String(count);
      countValue.dataset.state = 'ready';
      countValue.dataset.conditions = key;
    } catch (e) {
      if (abort.signal.aborted) return;
      countValue.dataset.state = 'error';
      countValue.textContent = '–';
      lastKey = '';
      if (e instanceof ApiError && !e.unauthorized) clear(errors, h('li', null, e.message));
      else ctx.fail(e);
      return;
    }
    await loadPage(conditions, abort.signal);
  }, 350);
  ctx.scope.add(() => refresh.cancel());
  const changed = () => refresh();

  const loadPage = async (conditions: Conditions, signal: AbortSignal) => {
    list.classList.add('loading');
    let result: SegmentPage;
    try {
      result = await ctx.api.segmentCustomers(conditions, page, PAGE_SIZE, signal);
    } catch (e) {
      if (!signal.aborted) { list.classList.remove('loading'); ctx.fail(e, list); }
      return;
    }
    if (signal.aborted) return;
    list.classList.remove('loading');
    renderList(result);
    const pages = Math.max(1, Math.ceil(result.total / result.size));
    const first = result.total === 0 ? 0 : (result.page - 1) * result.size + 1;
    clear(pager,
      h('span', { class: 'muted small' }, `${formatCount(first)}–${formatCount(Math.min(result.total, result.page * result.size))} of ${formatCount(result.total)}`),
      h('button', { type: 'button', class: 'btn ghost sm', disabled: result.page <= 1, 'data-action': 'prev', onclick: () => { page--; loadPage(conditions, signal); } }, '‹ Prev'),
      h('button', { type: 'button', class: 'btn ghost sm', disabled: result.page >= pages, 'data-action': 'next', onclick: () => { page++; loadPage(conditions, signal); } }, 'Next ›'));
  };

  const renderList = (result: SegmentPage) => {
    if (result.customers.length === 0) {
      clear(list, h('div', { class: 'empty' }, h('p', null, 'No customer matches these conditions.')));
      return;
    }
    const extra = [...new Set(result.customers.flatMap((c) => Object.keys(c)))].filter((k) => k !== 'customerId' && k !== 'valueTier').slice(0, 4);
    clear(list, h('table', { class: 'table' },
      h('thead', null, h('tr', null, h('th', null, 'Customer'), h('th', null, 'Value tier'), extra.map((k) => h('th', null, humanize(k))))),
      h('tbody', null, result.customers.map((c) => h('tr', { 'data-customer': c.customerId },
        h('td', null, h('a', { href: formatRoute({ page: 'customers', id: c.customerId, params: {} }) }, c.customerId)),
        h('td', null, c.valueTier ? h('span', { class: `tier tier-${c.valueTier}` }, c.valueTier) : h('span', { class: 'muted' }, '–')),
        extra.map((k) => h('td', null, cell(c[k]))))))));
  };

  // --- save and export -------------------------------------------------------------------------
  const save = async () => {
    const name = nameInput.value.trim();
    if (!name) { nameInput.focus(); toast('Give the segment a name first', 'error'); return; }
    if (validate(s).length) { toast('Fix the conditions first', 'error'); return; }
    const segment: SavedSegment = { id: current.id && current.name === name ? current.id : segmentId(name), name, conditions: toConditions(s) };
    try {
      await ctx.api.saveSegment(segment);
    } catch (e) {
      ctx.fail(e);
      return;
    }
    current = { id: segment.id, name };
    toast(`Saved "${name}"`);
    fillSaved(await ctx.segments(true).catch(() => []));
  };
  const exportCsv = async (button: HTMLButtonElement) => {
    if (validate(s).length) { toast('Fix the conditions first', 'error'); return; }
    button.disabled = true;
    try {
      const blob = await ctx.api.exportSegment(toConditions(s));
      if (exportLink.href.startsWith('blob:')) URL.revokeObjectURL(exportLink.href);
      exportLink.href = URL.createObjectURL(blob);
      exportLink.download = `${segmentId(nameInput.value.trim() || current.name || 'segment')}-${isoDate(new Date())}.csv`;
      exportLink.hidden = false;
      exportLink.click();
    } catch (e) {
      ctx.fail(e);
    } finally {
      button.disabled = false;
    }
  };
  const fillSaved = (segments: SavedSegment[]) => {
    savedSelect.replaceChildren(...[['', 'Open a saved segment…'], ...segments.map((x) => [x.id, x.name])].map(([v, l]) => h('option', { value: v, selected: v === current.id }, l)));
  };

  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null, h('h1', null, 'Segment builder'), h('p', { class: 'subtitle' }, 'Combine dialogue stages, traits and value; every condition must hold.')),
      h('div', { class: 'filters' }, savedSelect,
        h('button', { type: 'button', class: 'btn ghost', onclick: () => { state = emptyState(); current = { id: '', name: '' }; renderSegments(ctx); } }, 'New'))),
    h('div', { class: 'segment-layout' },
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', null, 'Conditions')), form),
      h('aside', { class: 'card audience' },
        h('div', { class: 'kpi-label' }, 'Customers in segment'),
        countValue, summary,
        h('div', { class: 'save-row' }, nameInput,
          h('button', { type: 'button', class: 'btn primary', 'data-action': 'save', onclick: save }, icon('save', 16), 'Save')),
        h('div', { class: 'save-row' },
          h('button', { type: 'button', class: 'btn', 'data-action': 'export', onclick: (e: Event) => exportCsv(e.currentTarget as HTMLButtonElement) }, icon('download', 16), 'Export CSV'),
          exportLink))),
    h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', null, 'Customers'), pager), list));
  ctx.scope.add(() => { if (exportLink.href.startsWith('blob:')) URL.revokeObjectURL(exportLink.href); });

  renderForm();
  changed();
  ctx.segments().then((segments) => !ctx.scope.disposed && fillSaved(segments), () => {});
}

function removeButton(onclick: () => void): HTMLButtonElement {
  return h('button', { type: 'button', class: 'icon-btn', title: 'Remove', 'aria-label': 'Remove condition', onclick }, icon('x', 16));
}

function humanize(key: string): string {
  return key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? formatCount(v) : v.toFixed(2);
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) return new Date(v).toLocaleDateString();
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
