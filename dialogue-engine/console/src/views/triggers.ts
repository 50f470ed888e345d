// Trigger rules (admin key): the list, a JSON editor that shows the API's validation errors, and per
// rule its firings over time, conversions after firing within a window, recent firings and dead letters.
import { ApiError } from '../api';
import { drawChart } from '../charts';
import { clear, h, icon, toast } from '../dom';
import { formatCount, formatDateTime, formatPercent, windowLabel } from '../format';
import { conversionOption, firingsOption, STATUS_COLORS } from '../ops-options';
import { formatRoute } from '../route';
import type { DeadLetter, FiringList, TriggerConversions, TriggerRule } from '../types';
import type { Ctx } from './context';
import { filtersOf } from './filters';

const WINDOWS: [string, string][] = [['1h', '1 hour'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days']];

/** What the editor starts from for a new rule: the issue's cart reminder. */
export const NEW_RULE = {
  id: 'cart-reminder',
  name: 'Cart reminder',
  enabled: true,
  when: { topic: '*', toStage: 3 },
  unless: { toStage: 4, within: 'PT2H' },
  limit: { perCustomerTopicDays: 7, quietHours: '22:00-08:00' },
  action: { type: 'webhook', url: 'https://crm.example/hooks/cart', secret: 'change-me-to-a-long-secret' },
};

/** "tv-oled-55 → stage 3 (consideration)": a rule's condition in words. */
export function describeWhen(rule: Pick<TriggerRule, 'when' | 'unless'>, stages: string[], topicName: (id: string) => string = (id) => id): string {
  const w = rule.when ?? {};
  const stage = (n: number | null | undefined) => (n ? `stage ${n}${stages[n - 1] ? ` (${stages[n - 1]})` : ''}` : 'any stage');
  const topic = !w.topic || w.topic === '*' ? 'any topic' : topicName(w.topic);
  let text = `${topic}: ${w.fromStage != null ? `${stage(w.fromStage)} → ` : ''}${stage(w.toStage)}${w.channel ? ` on ${w.channel}` : ''}`;
  if (rule.unless?.within) text += `, unless ${stage(rule.unless.toStage)} within ${rule.unless.within}`;
  return text;
}

/** Reads the editor's text: the rule, or the reason it is not JSON. */
export function parseRule(text: string): { rule?: TriggerRule; error?: string } {
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return { error: 'body: a JSON object' };
    return { rule: value as TriggerRule };
  } catch (e) {
    return { error: `body: not JSON (${(e as Error).message})` };
  }
}

export async function renderTriggers(ctx: Ctx): Promise<void> {
  const listCard = h('section', { class: 'card', id: 'trigger-list' }, h('div', { class: 'skeleton', style: { height: '120px' } }));
  const detail = h('div', { class: 'stack', id: 'trigger-detail' });
  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null, h('h1', null, 'Triggers'), h('p', { class: 'subtitle' }, 'Act on stage changes: webhooks, Kafka, email and SMS, the minute a dialogue moves.')),
      h('button', { class: 'btn primary', type: 'button', id: 'new-trigger', onclick: () => openEditor(ctx, null, detail) }, icon('plus', 16), h('span', null, 'New trigger'))),
    listCard, detail);

  let rules: TriggerRule[];
  try {
    rules = await ctx.api.triggers(ctx.scope.signal);
  } catch (e) {
    if (ctx.scope.disposed) return;
    if (e instanceof ApiError && e.status === 403) {
      listCard.replaceWith(h('div', { class: 'card error-card', role: 'alert', id: 'triggers-need-admin' },
        h('b', null, 'Triggers need an admin key'), h('p', null, 'Rules send customer data to other systems, so only an admin key reads and changes them. Sign out and sign in with an admin key.')));
      ctx.main.querySelector('#new-trigger')?.remove();
      return;
    }
    ctx.fail(e, listCard);
    return;
  }
  if (ctx.scope.disposed) return;
  clear(listCard, ruleTable(ctx, rules, detail));
  const chosen = rules.find((r) => r.id === ctx.route.id);
  if (ctx.route.params.edit === '1' && chosen) openEditor(ctx, chosen, detail);
  else if (chosen) await renderDetail(ctx, chosen, detail);
  else if (rules.length === 0) detail.append(h('div', { class: 'empty card' }, h('h3', null, 'No triggers yet'), h('p', null, 'Create one with "New trigger".')));
}

function ruleTable(ctx: Ctx, rules: TriggerRule[], detail: HTMLElement): HTMLElement {
  if (rules.length === 0) return h('p', { class: 'muted' }, 'No rules.');
  const go = (id: string, extra: Record<string, string> = {}) => ctx.go(formatRoute({ page: 'triggers', id, params: { ...pick(ctx.route.params, 'window'), ...extra } }));
  return h('table', { class: 'table', 'data-testid': 'trigger-table' },
    h('thead', null, h('tr', null, ['Rule', 'When', 'Action', 'State', ''].map((c) => h('th', null, c)))),
    h('tbody', null, rules.map((r) => h('tr', { 'data-trigger': r.id, class: r.id === ctx.route.id ? 'selected' : '' },
      h('td', null, h('a', { href: formatRoute({ page: 'triggers', id: r.id, params: pick(ctx.route.params, 'window') }) }, h('b', null, r.name || r.id)), r.name ? h('div', { class: 'muted small' }, r.id) : null),
      h('td', null, describeWhen(r, ctx.catalog.stages, ctx.topicName)),
      h('td', null, r.action?.type ?? '–'),
      h('td', null, h('span', { class: `pill ${r.enabled ? 'on' : 'off'}` }, r.enabled ? 'Enabled' : 'Disabled')),
      h('td', { class: 'row-actions' },
        h('button', { class: 'btn ghost small', type: 'button', 'data-action': 'toggle', onclick: async () => {
          try {
            await ctx.api.saveTrigger({ ...r, enabled: !r.enabled }, false);
            toast(`${r.name || r.id} ${r.enabled ? 'disabled' : 'enabled'}`);
            go(r.id);
            if (ctx.route.id === r.id) void renderTriggers({ ...ctx, route: { ...ctx.route } });
          } catch (e) { ctx.fail(e); }
        } }, r.enabled ? 'Disable' : 'Enable'),
        h('button', { class: 'btn ghost small', type: 'button', 'data-action': 'edit', onclick: () => openEditor(ctx, r, detail) }, 'Edit'),
        h('button', { class: 'btn ghost small danger', type: 'button', 'data-action': 'delete', onclick: async () => {
          if (!confirm(`Delete the trigger "${r.name || r.id}"? Its firings stay in the archive.`)) return;
          try {
            await ctx.api.deleteTrigger(r.id);
            toast(`${r.name || r.id} deleted`);
            ctx.go(formatRoute({ page: 'triggers', id: '', params: {} }));
            if (ctx.route.id !== r.id) void renderTriggers(ctx);
          } catch (e) { ctx.fail(e); }
        } }, 'Delete'))))));
}

function openEditor(ctx: Ctx, rule: TriggerRule | null, detail: HTMLElement): void {
  const isNew = rule === null;
  const text = h('textarea', { class: 'input code', id: 'trigger-json', rows: 18, spellcheck: 'false', 'aria-label': 'Rule as JSON', 'aria-describedby': 'trigger-errors' });
  text.value = JSON.stringify(rule ?? NEW_RULE, null, 2);
  const errors = h('ul', { class: 'form-errors', id: 'trigger-errors', role: 'alert' });
  const save = h('button', { class: 'btn primary', type: 'button', id: 'trigger-save', onclick: async () => {
    const parsed = parseRule(text.value);
    if (!parsed.rule) { clear(errors, h('li', null, parsed.error!)); return; }
    save.disabled = true;
    try {
      const saved = await ctx.api.saveTrigger(parsed.rule, isNew);
      toast(`${saved.name || saved.id} saved`);
      ctx.go(formatRoute({ page: 'triggers', id: saved.id, params: pick(ctx.route.params, 'window') }));
      if (ctx.route.id === saved.id) void renderTriggers(ctx);
    } catch (e) {
      if (e instanceof ApiError && e.status < 500 && !e.unauthorized) clear(errors, (e.errors.length ? e.errors : [e.message]).map((m) => h('li', null, m)));
      else ctx.fail(e);
    } finally {
      save.disabled = false;
    }
  } }, icon('save', 16), h('span', null, isNew ? 'Create' : 'Save'));
  clear(detail, h('section', { class: 'card', id: 'trigger-editor' },
    h('div', { class: 'card-head' }, h('h2', null, isNew ? 'New trigger' : `Edit ${rule.name || rule.id}`),
      h('span', { class: 'muted small' }, 'when · unless · segment · traits · limit · action. The secret shows as *** and is kept unless you type a new one.')),
    text, errors,
    h('div', { class: 'toolbar' }, save, h('button', { class: 'btn ghost', type: 'button', onclick: () => clear(detail) }, 'Cancel'))));
  text.focus();
}

async function renderDetail(ctx: Ctx, rule: TriggerRule, detail: HTMLElement): Promise<void> {
  const f = filtersOf(ctx.route);
  const window = ctx.route.params.window || '1d';
  const kpis = h('section', { class: 'kpis', id: 'trigger-kpis' }, [1, 2, 3, 4].map(() => h('div', { class: 'kpi skeleton' })));
  const firingsCard = h('section', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, 'Firings'), h('span', { class: 'muted small' }, 'Recent firings per day, by what became of them')),
    h('div', { id: 'trigger-firings-chart', class: 'chart chart-md skeleton', role: 'img' }));
  const conversionCard = h('section', { class: 'card chart-card' }, h('div', { class: 'card-head' }, h('h2', null, 'Conversions after firing'),
    h('span', { class: 'muted small' }, `Firings followed by a later stage of the topic within ${windowLabel(window)}`)),
    h('div', { id: 'trigger-conversion-chart', class: 'chart chart-md skeleton', role: 'img' }));
  const recent = h('section', { class: 'card', id: 'trigger-recent' }, h('h2', null, 'Recent firings'));
  const dead = h('section', { class: 'card', id: 'trigger-dead' }, h('h2', null, 'Dead letters'));
  const setWindow = (v: string) => ctx.go(formatRoute({ ...ctx.route, params: { ...ctx.route.params, window: v } }));
  clear(detail,
    h('div', { class: 'section-head' }, h('h2', null, rule.name || rule.id),
      h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Conversion window', 'data-filter': 'window' },
        WINDOWS.map(([v, l]) => h('button', { type: 'button', role: 'radio', 'aria-checked': String(v === window), class: v === window ? 'active' : '', 'data-value': v, onclick: () => setWindow(v) }, l)))),
    kpis, h('div', { class: 'grid-2' }, firingsCard, conversionCard), recent, dead);

  let firings: FiringList; let conversions: TriggerConversions; let letters: DeadLetter[];
  try {
    [firings, conversions, letters] = await Promise.all([
      ctx.api.firings(rule.id, 1000, ctx.scope.signal),
      ctx.api.conversions(rule.id, { from: f.from, to: f.to, window }, ctx.scope.signal),
      ctx.api.deadLetters(rule.id, ctx.scope.signal),
    ]);
  } catch (e) {
    if (!ctx.scope.disposed) ctx.fail(e, kpis);
    return;
  }
  if (ctx.scope.disposed) return;
  const kpi = (label: string, value: string, note: string, id: string) =>
    h('div', { class: 'kpi', 'data-kpi': id }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-note' }, note));
  clear(kpis,
    kpi('Firings', formatCount(firings.total), Object.entries(firings.byStatus).map(([s, n]) => `${n} ${s}`).join(' · ') || 'none yet', 'firings'),
    kpi('Converted', formatCount(conversions.converted), `of ${formatCount(conversions.fired)} acted on`, 'converted'),
    kpi('Conversion', formatPercent(conversions.rate), `within ${windowLabel(conversions.window)}`, 'rate'),
    kpi('Dead letters', formatCount(letters.length), letters.length ? 'replay below' : 'none', 'dead'));

  const chartOrEmpty = (card: HTMLElement, selector: string, empty: boolean, draw: (el: HTMLElement) => void) => {
    const el = card.querySelector<HTMLElement>(selector)!;
    el.classList.remove('skeleton');
    if (empty) el.replaceWith(h('div', { class: 'empty' }, h('h3', null, 'No firings in this period')));
    else draw(el);
  };
  chartOrEmpty(firingsCard, '#trigger-firings-chart', firings.firings.length === 0, (el) => drawChart(el, firingsOption(firings.firings), 'trigger-firings', ctx.scope));
  chartOrEmpty(conversionCard, '#trigger-conversion-chart', conversions.days.length === 0, (el) => drawChart(el, conversionOption(conversions), 'trigger-conversions', ctx.scope));

  recent.append(firings.firings.length === 0 ? h('p', { class: 'muted' }, 'No firings yet.') : h('table', { class: 'table' },
    h('thead', null, h('tr', null, ['Fired', 'Customer', 'Topic', 'Stage', 'Status', 'Attempts'].map((c) => h('th', null, c)))),
    h('tbody', null, firings.firings.slice(0, 20).map((x) => h('tr', { 'data-firing': x.firingId },
      h('td', null, formatDateTime(x.firedAt)),
      h('td', null, h('a', { href: formatRoute({ page: 'customers', id: x.customer, params: {} }) }, x.customer)),
      h('td', null, ctx.topicName(x.topic)),
      h('td', null, `${x.fromStage} → ${x.toStage}`),
      h('td', null, h('span', { class: 'pill', style: { color: STATUS_COLORS[x.status] ?? 'inherit' } }, x.status), x.error ? h('div', { class: 'muted small' }, x.error) : null),
      h('td', null, String(x.attempts)))))));

  dead.append(letters.length === 0 ? h('p', { class: 'muted' }, 'No dead letters: every delivery got through or is still being retried.') : h('table', { class: 'table', 'data-testid': 'dead-letters' },
    h('thead', null, h('tr', null, ['Dead since', 'Customer', 'Topic', 'Attempts', 'Last error', ''].map((c) => h('th', null, c)))),
    h('tbody', null, letters.map((d) => h('tr', { 'data-dead': d.firingId },
      h('td', null, formatDateTime(d.deadAt)),
      h('td', null, d.customer),
      h('td', null, ctx.topicName(d.topic)),
      h('td', null, String(d.attempts)),
      h('td', { class: 'muted small' }, d.error),
      h('td', null, h('button', { class: 'btn small', type: 'button', 'data-action': 'replay', onclick: async (e: Event) => {
        const button = e.currentTarget as HTMLButtonElement;
        button.disabled = true;
        try {
          await ctx.api.replay(d.firingId);
          toast('Queued for delivery again');
          button.closest('tr')?.remove();
        } catch (err) {
          button.disabled = false;
          ctx.fail(err);
        }
      } }, 'Replay')))))));
}

function pick(params: Record<string, string>, ...keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => params[k]).map((k) => [k, params[k]]));
}
