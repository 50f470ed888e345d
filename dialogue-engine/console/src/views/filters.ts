// The filter bar shared by the analytics views: date range, conversion window, channel, saved segment.
import { lastDays } from '../format';
import { formatRoute, type Route } from '../route';
import { h, select } from '../dom';
import type { Ctx } from './context';

export const WINDOWS: [string, string][] = [['1d', '1 day'], ['3d', '3 days'], ['7d', '7 days'], ['14d', '14 days'], ['30d', '30 days'], ['90d', '90 days'], ['none', 'No limit']];
export const CHANNELS: [string, string][] = [['', 'All channels'], ['web', 'Web'], ['email', 'Email'], ['mobile', 'Mobile']];
const PRESETS: [string, string][] = [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['custom', 'Custom']];

export const DEFAULT_DAYS = 30;
export const DEFAULT_WINDOW = '7d';

/** The effective filters of a route, with defaults for what the URL leaves out. */
export function filtersOf(route: Route, today = new Date()): { from: string; to: string; window: string; channel: string; segment: string } {
  const range = lastDays(DEFAULT_DAYS, today);
  return {
    from: route.params.from ?? range.from,
    to: route.params.to ?? range.to,
    window: route.params.window ?? DEFAULT_WINDOW,
    channel: route.params.channel ?? '',
    segment: route.params.segment ?? '',
  };
}

/** Which preset the range is (the last N days up to today), or custom. */
export function presetOf(from: string, to: string, today = new Date()): string {
  for (const [days] of PRESETS) {
    if (days === 'custom') continue;
    const r = lastDays(Number(days), today);
    if (r.from === from && r.to === to) return days;
  }
  return 'custom';
}

export interface FilterOptions { window?: boolean; channel?: boolean; segment?: boolean }

export function filterBar(ctx: Ctx, options: FilterOptions = {}): HTMLElement {
  const f = filtersOf(ctx.route);
  const set = (changes: Record<string, string>) => {
    const params = { ...ctx.route.params, ...changes };
    for (const [k, v] of Object.entries(changes)) if (v === '') delete params[k];
    ctx.go(formatRoute({ ...ctx.route, params }));
  };
  const from = h('input', { type: 'date', class: 'input', value: f.from, max: f.to, 'aria-label': 'From', 'data-filter': 'from',
    onchange: (e: Event) => (e.target as HTMLInputElement).value && set({ from: (e.target as HTMLInputElement).value }) });
  const to = h('input', { type: 'date', class: 'input', value: f.to, min: f.from, 'aria-label': 'To', 'data-filter': 'to',
    onchange: (e: Event) => (e.target as HTMLInputElement).value && set({ to: (e.target as HTMLInputElement).value }) });
  const preset = presetOf(f.from, f.to);
  const range = h('div', { class: 'field-group' },
    select({ class: 'input', 'aria-label': 'Date range', 'data-filter': 'range', onchange: (e: Event) => {
      const v = (e.target as HTMLSelectElement).value;
      if (v === 'custom') {
        range.classList.add('custom');
        from.focus();
      } else set(lastDays(Number(v)));
    } }, PRESETS, preset),
    h('span', { class: 'custom-range' }, from, h('span', { class: 'muted' }, '→'), to));
  if (preset === 'custom') range.classList.add('custom');

  const bar = h('div', { class: 'filters', role: 'toolbar', 'aria-label': 'Filters' },
    h('label', { class: 'filter' }, h('span', { class: 'filter-label' }, 'Dates'), range));
  if (options.window) {
    bar.append(h('label', { class: 'filter' }, h('span', { class: 'filter-label' }, 'Window'),
      select({ class: 'input', 'data-filter': 'window', title: 'How long a customer has from entering the funnel to converting',
        onchange: (e: Event) => set({ window: (e.target as HTMLSelectElement).value }) },
      WINDOWS.some(([w]) => w === f.window) ? WINDOWS : [...WINDOWS, [f.window, f.window]], f.window)));
  }
  if (options.channel) {
    bar.append(h('label', { class: 'filter' }, h('span', { class: 'filter-label' }, 'Channel'),
      select({ class: 'input', 'data-filter': 'channel', onchange: (e: Event) => set({ channel: (e.target as HTMLSelectElement).value }) }, CHANNELS, f.channel)));
  }
  if (options.segment) {
    const segmentSelect = select({ class: 'input', 'data-filter': 'segment', onchange: (e: Event) => set({ segment: (e.target as HTMLSelectElement).value }) },
      [['', 'All customers'], ...(f.segment ? [[f.segment, f.segment] as [string, string]] : [])], f.segment);
    bar.append(h('label', { class: 'filter' }, h('span', { class: 'filter-label' }, 'Segment'), segmentSelect));
    ctx.segments().then((segments) => {
      if (ctx.scope.disposed) return;
      segmentSelect.replaceChildren(...[['', 'All customers'], ...segments.map((s) => [s.id, s.name])].map(([v, l]) => h('option', { value: v, selected: v === f.segment }, l)));
    }, () => { /* no saved segments to offer; the filter stays usable */ });
  }
  return bar;
}

/** "Nov 1 – Nov 30" for headings. */
export function rangeText(from: string, to: string): string {
  const fmt = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', year: from.slice(0, 4) === to.slice(0, 4) ? undefined : 'numeric', timeZone: 'UTC' });
  return `${fmt.format(new Date(`${from}T00:00:00Z`))} – ${fmt.format(new Date(`${to}T00:00:00Z`))}`;
}
