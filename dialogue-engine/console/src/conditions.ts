// The segment builder's form state and the API's condition object (C of the contract).
import type { ActivityCondition, Conditions, TraitOp, ValueTier } from './types';

/** One row of the form: strings as typed, so half-typed values survive re-rendering. */
export interface DialogueRow { topic: string; minStage: string; withinDays: string; notConverted: boolean }
export interface TraitRow { name: string; op: TraitOp; value: string }
export interface BuilderState {
  dialogue: DialogueRow[];
  traits: TraitRow[];
  activity: { valueTier: '' | ValueTier; recencyDays: string; minOrders: string; minRevenue: string };
  excludeSuppressed: boolean;
}

export const TRAIT_OPS: { op: TraitOp; label: string }[] = [
  { op: 'eq', label: 'is' },
  { op: 'ne', label: 'is not' },
  { op: 'contains', label: 'contains' },
  { op: 'gte', label: '≥' },
  { op: 'gt', label: '>' },
  { op: 'lte', label: '≤' },
  { op: 'lt', label: '<' },
];

export function emptyState(): BuilderState {
  return {
    dialogue: [],
    traits: [],
    activity: { valueTier: '', recencyDays: '', minOrders: '', minRevenue: '' },
    excludeSuppressed: true,
  };
}

export const newDialogueRow = (topic = ''): DialogueRow => ({ topic, minStage: '2', withinDays: '14', notConverted: false });
export const newTraitRow = (name = ''): TraitRow => ({ name, op: 'eq', value: '' });

/** A whole, non-negative number from a form field, or undefined when empty or not one. */
function whole(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

function decimal(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** Numbers compare as numbers: a trait value that reads as a plain number is sent as one for the ordering operators. */
function traitValue(op: TraitOp, value: string): string | number {
  const t = value.trim();
  if ((op === 'gte' || op === 'gt' || op === 'lte' || op === 'lt') && /^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}

/** The problems that keep the form from being a valid segment, one per field, in form order. */
export function validate(state: BuilderState): string[] {
  const errors: string[] = [];
  state.dialogue.forEach((d, i) => {
    const at = `Dialogue condition ${i + 1}`;
    if (!d.topic) errors.push(`${at}: choose a topic`);
    if (d.minStage.trim() && whole(d.minStage) === undefined) errors.push(`${at}: the stage must be a whole number`);
    if (d.withinDays.trim() && (whole(d.withinDays) === undefined || whole(d.withinDays) === 0)) errors.push(`${at}: "within days" must be a whole number above 0`);
  });
  state.traits.forEach((t, i) => {
    const at = `Trait condition ${i + 1}`;
    if (!t.name.trim()) errors.push(`${at}: name the trait`);
    if (!t.value.trim()) errors.push(`${at}: give a value`);
  });
  const a = state.activity;
  if (a.recencyDays.trim() && whole(a.recencyDays) === undefined) errors.push('Activity: "last order within" must be a whole number of days');
  if (a.minOrders.trim() && whole(a.minOrders) === undefined) errors.push('Activity: "at least orders" must be a whole number');
  if (a.minRevenue.trim() && decimal(a.minRevenue) === undefined) errors.push('Activity: "revenue at least" must be a number');
  return errors;
}

/** The API's condition object: only complete rows, only fields that were given. */
export function toConditions(state: BuilderState): Conditions {
  const c: Conditions = {};
  const dialogue = state.dialogue
    .filter((d) => d.topic)
    .map((d) => {
      const minStage = whole(d.minStage);
      const withinDays = whole(d.withinDays);
      return {
        topic: d.topic,
        ...(minStage !== undefined ? { minStage } : {}),
        ...(withinDays ? { withinDays } : {}),
        ...(d.notConverted ? { notConverted: true } : {}),
      };
    });
  if (dialogue.length) c.dialogue = dialogue;
  const traits = state.traits
    .filter((t) => t.name.trim() && t.value.trim())
    .map((t) => ({ name: t.name.trim(), op: t.op, value: traitValue(t.op, t.value) }));
  if (traits.length) c.traits = traits;
  const a = state.activity;
  const activity: ActivityCondition = {};
  if (a.valueTier) activity.valueTier = a.valueTier;
  const recency = whole(a.recencyDays);
  if (recency !== undefined) activity.recencyDays = recency;
  const orders = whole(a.minOrders);
  if (orders !== undefined) activity.minOrders = orders;
  const revenue = decimal(a.minRevenue);
  if (revenue !== undefined) activity.minRevenue = revenue;
  if (Object.keys(activity).length) c.activity = activity;
  c.excludeSuppressed = state.excludeSuppressed;
  return c;
}

/** The form for a saved segment's conditions, so it can be edited. */
export function fromConditions(c: Conditions): BuilderState {
  const s = emptyState();
  s.dialogue = (c.dialogue ?? []).map((d) => ({
    topic: d.topic,
    minStage: d.minStage === undefined ? '' : String(d.minStage),
    withinDays: d.withinDays === undefined ? '' : String(d.withinDays),
    notConverted: !!d.notConverted,
  }));
  s.traits = (c.traits ?? []).map((t) => ({ name: t.name, op: t.op, value: String(t.value) }));
  const a = c.activity ?? {};
  s.activity = {
    valueTier: a.valueTier ?? '',
    recencyDays: a.recencyDays === undefined ? '' : String(a.recencyDays),
    minOrders: a.minOrders === undefined ? '' : String(a.minOrders),
    minRevenue: a.minRevenue === undefined ? '' : String(a.minRevenue),
  };
  s.excludeSuppressed = c.excludeSuppressed ?? true;
  return s;
}

/** A stable key for a condition object: the live count is refetched only when this changes. */
export function conditionsKey(c: Conditions): string {
  return JSON.stringify(c);
}

/** A segment id from its name: lower-case words joined by dashes, ASCII letters and digits only. */
export function segmentId(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return slug || `segment-${Date.now().toString(36)}`;
}

/** A readable one-line summary of the conditions, for the saved-segment list and the CSV file name. */
export function describe(c: Conditions, stageNames: string[] = [], topicName: (id: string) => string = (id) => id): string {
  const parts: string[] = [];
  for (const d of c.dialogue ?? []) {
    let p = topicName(d.topic);
    if (d.minStage !== undefined) p += ` at ${stageNames[d.minStage - 1] ?? `stage ${d.minStage}`}+`;
    if (d.withinDays) p += ` in ${d.withinDays}d`;
    if (d.notConverted) p += ', not converted';
    parts.push(p);
  }
  for (const t of c.traits ?? []) parts.push(`${t.name} ${TRAIT_OPS.find((o) => o.op === t.op)?.label ?? t.op} ${t.value}`);
  const a = c.activity;
  if (a?.valueTier) parts.push(`${a.valueTier} value`);
  if (a?.recencyDays !== undefined) parts.push(`ordered in ${a.recencyDays}d`);
  if (a?.minOrders !== undefined) parts.push(`${a.minOrders}+ orders`);
  if (a?.minRevenue !== undefined) parts.push(`revenue ≥ ${a.minRevenue}`);
  if (!parts.length) parts.push('All customers');
  return parts.join(' · ');
}
