// The engine's API contract as the console reads it (see issue 5 and dialogue-engine/Customers/CustomerApi.cs).

export interface Catalog {
  stages: string[];
  topics: { id: string; name: string }[];
}

export interface FunnelStage {
  stage: number;
  name: string;
  customers: number;
  /** Shares 0..1; null where there is nothing to divide by. */
  conversionFromPrevious: number | null;
  conversionFromFirst: number | null;
  /** Seconds, null for the first stage or when nobody moved on. */
  medianTimeFromPrevious: number | null;
  p90TimeFromPrevious: number | null;
}

export interface Funnel {
  topic: string;
  topicName: string;
  from: string;
  to: string;
  /** "7d", "12h" or "none". */
  window: string;
  /** dialogue: step k counts everyone whose dialogue reached stage k or deeper; strict: each stage's own interaction, in order (windowFunnel). */
  order?: 'dialogue' | 'strict';
  stages: FunnelStage[];
  breakdown: { key: string; stages: FunnelStage[] }[];
}

export type Breakdown = '' | 'channel' | 'firstChannel' | 'cohortWeek' | `trait:${string}`;

export interface FunnelQuery {
  from?: string;
  to?: string;
  window?: string;
  channel?: string;
  segment?: string;
  breakdown?: Breakdown;
  order?: 'dialogue' | 'strict' | '';
}

export interface TrendSeries {
  stage: number;
  name: string;
  /** Set when the trend is split by channel (by=channel). */
  channel?: string | null;
  points: { date: string; entries: number }[];
}

export interface Trends {
  topic: string;
  topicName?: string;
  interval: 'day' | 'week';
  series: TrendSeries[];
}

export interface DialogueCondition {
  topic: string;
  minStage?: number;
  withinDays?: number;
  notConverted?: boolean;
}

export type TraitOp = 'eq' | 'ne' | 'gte' | 'lte' | 'gt' | 'lt' | 'contains';

export interface TraitCondition {
  name: string;
  op: TraitOp;
  value: string | number;
}

export type ValueTier = 'high' | 'medium' | 'low' | 'none';

export interface ActivityCondition {
  valueTier?: ValueTier;
  recencyDays?: number;
  minOrders?: number;
  minRevenue?: number;
}

/** Every part is optional; a customer is in the segment when all the parts given hold. */
export interface Conditions {
  dialogue?: DialogueCondition[];
  traits?: TraitCondition[];
  activity?: ActivityCondition;
  excludeSuppressed?: boolean;
}

export interface SavedSegment {
  id: string;
  name: string;
  conditions: Conditions;
}

export interface SegmentCustomer {
  customerId: string;
  valueTier?: ValueTier | null;
  orders?: number;
  revenue?: number;
  lastSeen?: string;
  [field: string]: unknown;
}

export interface SegmentPage {
  customers: SegmentCustomer[];
  page: number;
  size: number;
  total: number;
}

export interface StageReached {
  stage: number;
  name: string;
  at: string;
  channel: string;
}

export interface DialogueView {
  topic: string;
  topicName: string;
  stage: number;
  stageName: string;
  status: 'open' | 'converted' | 'dormant' | string;
  episode: number;
  score: number;
  firstInteraction: string | null;
  lastInteraction: string | null;
  stages: StageReached[];
  interactions: Record<string, number>;
}

export interface TimelineEntry {
  timestamp: string;
  channel: string;
  type: string;
  event: string;
  topics: string[];
  stages: number[];
}

export interface CustomerView {
  customerId: string;
  identities: string[];
  traits: Record<string, unknown>;
  dialogues: DialogueView[];
  timeline: TimelineEntry[] | null;
  timelineByTopic: { topic: string; topicName: string; interactions: TimelineEntry[] }[] | null;
}

/** A trigger rule as /api/triggers keeps it (the action's secret comes back as "***"). */
export interface TriggerRule {
  id: string;
  name?: string | null;
  enabled: boolean;
  when: { topic?: string | null; fromStage?: number | null; toStage?: number | null; channel?: string | null };
  unless?: { toStage?: number | null; within?: string | null } | null;
  segment?: string | null;
  traits?: { name: string; op: string; value: unknown }[] | null;
  limit?: { perCustomerTopicDays?: number | null; perMinute?: number | null; quietHours?: string | null } | null;
  action: { type: string; url?: string | null; secret?: string | null; topic?: string | null; targetUrl?: string | null; campaign?: string | null; linkStage?: number | null; template?: string | null; fields?: Record<string, string> | null };
}

export interface Firing {
  firingId: string;
  customer: string;
  topic: string;
  episode: number;
  fromStage: number;
  toStage: number;
  channel: string;
  status: string;
  attempts: number;
  error: string;
  transitionAt: string;
  firedAt: string;
  updatedAt: string;
}

export interface FiringList { firings: Firing[]; total: number; byStatus: Record<string, number> }

export interface DeadLetter { firingId: string; rule: string; customer: string; topic: string; episode: number; attempts: number; error: string; deadAt: string }

export interface ConversionDay { date: string; fired: number; converted: number }

export interface TriggerConversions { trigger: string; from: string; to: string; window: string; fired: number; converted: number; rate: number | null; days: ConversionDay[] }

export interface PartitionLag { role: string; group: string; topic: string; partition: number; committed: number | null; end: number; lag: number }

export interface ServiceHealth {
  status: string;
  error: string | null;
  totals: Record<string, number>;
  perSecond: Record<string, number | null>;
  levels: Record<string, number>;
}

export interface PipelinePoint { at: string; lag: number; perSecond: Record<string, number | null>; spoolBytes: number | null }

export interface PipelineReport {
  at: string;
  sampleSeconds: number | null;
  lag: PartitionLag[];
  lagError: string | null;
  services: Record<'engine' | 'collector' | 'recommender', ServiceHealth>;
  history: PipelinePoint[];
}
