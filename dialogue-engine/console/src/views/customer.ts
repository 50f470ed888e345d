// The integrated customer: identities, traits, every dialogue with its stage, the cross-channel timeline by topic.
import { drawChart } from '../charts';
import { channelColor, stageColor, timelineOption } from '../chart-options';
import { clear, h, icon } from '../dom';
import { formatAgo, formatCount, formatDateTime } from '../format';
import { formatRoute } from '../route';
import type { CustomerView, DialogueView, TimelineEntry } from '../types';
import type { Ctx } from './context';

export async function renderCustomer(ctx: Ctx): Promise<void> {
  const id = ctx.route.id;
  const input = h('input', { class: 'input search-input', id: 'customer-search', type: 'search', placeholder: 'Customer id, user id or anonymous id', value: id, 'aria-label': 'Customer id', autocomplete: 'off' });
  const body = h('div', { class: 'customer-body' });
  clear(ctx.main,
    h('header', { class: 'page-head' },
      h('div', null, h('h1', null, 'Customer look-up'), h('p', { class: 'subtitle' }, 'One view of a customer across web, email and mobile: any linked id finds them.')),
      h('form', { class: 'search', role: 'search', onsubmit: (e: Event) => {
        e.preventDefault();
        const v = input.value.trim();
        if (v) ctx.go(formatRoute({ page: 'customers', id: v, params: {} }));
      } }, icon('customers', 16), input, h('button', { class: 'btn primary', type: 'submit' }, 'Look up'))),
    body);
  if (!id) {
    clear(body, h('div', { class: 'card empty' }, h('h3', null, 'Find a customer'), h('p', null, 'Type an id above, or open one from a segment\'s customer list.')));
    input.focus();
    return;
  }
  clear(body, h('div', { class: 'card skeleton', style: { height: '160px' } }), h('div', { class: 'card skeleton', style: { height: '240px' } }));
  let view: CustomerView;
  try {
    view = await ctx.api.customer(id, ctx.scope.signal);
  } catch (e) {
    if (!ctx.scope.disposed) ctx.fail(e, body);
    return;
  }
  if (ctx.scope.disposed) return;
  renderView(ctx, body, view);
}

function renderView(ctx: Ctx, body: HTMLElement, v: CustomerView): void {
  const traits = Object.entries(v.traits ?? {});
  const last = v.dialogues.map((d) => d.lastInteraction).filter(Boolean).sort().pop() ?? null;
  const profile = h('section', { class: 'card profile', 'data-testid': 'customer-profile', 'data-customer': v.customerId },
    h('div', { class: 'avatar', 'aria-hidden': 'true' }, initials(v)),
    h('div', { class: 'profile-main' },
      h('h2', null, v.customerId),
      h('div', { class: 'muted small' }, `${v.dialogues.length} dialogue${v.dialogues.length === 1 ? '' : 's'} · last seen ${formatAgo(last)}`),
      h('div', { class: 'chips', 'aria-label': 'Identities' }, v.identities.map((i) => h('span', { class: `chip${i === v.customerId ? ' primary' : ''}`, title: i === v.customerId ? 'The customer id' : 'A linked id' }, i)))),
    h('dl', { class: 'traits' }, traits.length
      ? traits.map(([k, val]) => [h('dt', null, k), h('dd', null, typeof val === 'object' ? JSON.stringify(val) : String(val))])
      : h('dd', { class: 'muted' }, 'No traits yet')));

  const dialogues = h('section', { class: 'dialogue-grid', 'data-testid': 'dialogues' },
    v.dialogues.length ? v.dialogues.map((d) => dialogueCard(ctx, d)) : h('div', { class: 'card empty' }, h('p', null, 'No dialogues yet.')));

  const timeline = h('section', { class: 'card', 'data-testid': 'timeline' }, h('div', { class: 'card-head' }, h('h2', null, 'Timeline'), h('span', { class: 'muted small' }, 'Every interaction across channels, grouped by topic')));
  const groups = v.timelineByTopic ?? (v.timeline ? [{ topic: '', topicName: '', interactions: v.timeline }] : null);
  if (groups === null) {
    timeline.append(h('div', { class: 'empty' }, h('p', null, 'The archive is not reachable right now; the timeline is back as soon as ClickHouse is.')));
  } else if (groups.length === 0) {
    timeline.append(h('div', { class: 'empty' }, h('p', null, 'No interactions archived yet.')));
  } else {
    const chart = h('div', { id: 'timeline-chart', class: 'chart', role: 'img', style: { height: `${Math.max(140, 44 * groups.length + 60)}px` } });
    timeline.append(chart, h('div', { class: 'topic-history' }, groups.map((g) => historyGroup(ctx, g))));
    drawChart(chart, timelineOption(groups.map((g) => ({ ...g, topicName: g.topicName || (g.topic ? ctx.topicName(g.topic) : 'Other interactions') }))), 'timeline', ctx.scope);
  }

  clear(body, profile, h('div', { class: 'section-head' }, h('h2', null, 'Dialogues')), dialogues, timeline);
}

function dialogueCard(ctx: Ctx, d: DialogueView): HTMLElement {
  const stages = ctx.catalog.stages.length ? ctx.catalog.stages : d.stages.map((s) => s.name);
  const reached = new Map(d.stages.map((s) => [s.stage, s]));
  const total = Object.values(d.interactions ?? {}).reduce((n, c) => n + c, 0);
  return h('article', { class: 'card dialogue', 'data-topic': d.topic, 'data-stage': String(d.stage) },
    h('div', { class: 'dialogue-head' },
      h('div', null, h('h3', null, d.topicName || ctx.topicName(d.topic)), h('div', { class: 'muted small' }, `${d.stageName} · episode ${d.episode} · score ${d.score.toFixed(1)}`)),
      h('span', { class: `status status-${d.status}` }, d.status)),
    h('ol', { class: 'progress', 'aria-label': `Stage ${d.stage} of ${stages.length}` },
      stages.map((name, i) => {
        const n = i + 1;
        const r = reached.get(n);
        const done = n <= d.stage;
        return h('li', { class: `${done ? 'done' : ''}${n === d.stage ? ' current' : ''}`, title: r ? `${name}: reached ${formatDateTime(r.at)} via ${r.channel}` : name },
          h('span', { class: 'seg', style: done ? { background: stageColor(n) } : {} }),
          h('span', { class: 'seg-label' }, name),
          r ? h('span', { class: 'seg-meta' }, channelIcon(r.channel), new Date(r.at).toLocaleDateString()) : null);
      })),
    h('div', { class: 'chips' },
      Object.entries(d.interactions ?? {}).sort((a, b) => b[1] - a[1]).map(([ch, n]) => h('span', { class: 'chip', title: `${n} interactions on ${ch}` }, channelIcon(ch), `${ch} ${formatCount(n)}`)),
      h('span', { class: 'muted small' }, `${formatCount(total)} interactions · last ${formatAgo(d.lastInteraction)}`)));
}

function historyGroup(ctx: Ctx, g: { topic: string; topicName: string; interactions: TimelineEntry[] }): HTMLElement {
  const name = g.topicName || (g.topic ? ctx.topicName(g.topic) : 'Other interactions');
  return h('div', { class: 'history', 'data-topic': g.topic },
    h('h3', null, name, h('span', { class: 'muted small' }, ` · ${g.interactions.length} interaction${g.interactions.length === 1 ? '' : 's'}`)),
    h('ol', { class: 'events' }, g.interactions.map((e) => h('li', { class: 'event', 'data-channel': e.channel },
      h('span', { class: 'event-icon', style: { color: channelColor(e.channel) } }, channelIcon(e.channel)),
      h('span', { class: 'event-what' }, eventLabel(e), e.stages?.length ? e.stages.map((s) => h('span', { class: 'stage-tag', style: { borderColor: stageColor(s), color: stageColor(s) } }, ctx.catalog.stages[s - 1] ?? `stage ${s}`)) : null),
      h('span', { class: 'event-channel muted small' }, e.channel),
      h('time', { class: 'muted small', datetime: e.timestamp }, formatDateTime(e.timestamp))))));
}

/** What happened, for people: the track event's name, else the kind of call ("Page view"). */
export function eventLabel(e: Pick<TimelineEntry, 'event' | 'type'>): string {
  if (e.event) return e.event;
  const kinds: Record<string, string> = { page: 'Page view', screen: 'Screen view', identify: 'Signed in / identified', alias: 'Identity linked', group: 'Group', track: 'Event' };
  return kinds[e.type] ?? e.type;
}

function channelIcon(channel: string): SVGSVGElement {
  return icon(channel === 'web' || channel === 'email' || channel === 'mobile' ? channel : 'dot', 14);
}

function initials(v: CustomerView): string {
  const name = v.traits?.name;
  if (typeof name === 'string' && name.trim()) return name.trim().split(/\s+/).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
  return v.customerId.replace(/[^A-Za-z0-9]/g, '').charAt(0).toUpperCase() || '?';
}
