// The engine's API contract as the console reads it (see issue 5 and dialogue-engine/Customers/CustomerApi.cs).

export interface Catalog {
  stages: string[];
  topics: { id: string; name: string }[];
}

export interface FunnelStage {
  stage: number;
  name: string;
  customers: number;
  conversionFromPrevious: number;
  conversionFromFirst: number;
  /** Seconds, null for the first stage or when nobody moved on. */
  medianTimeFromPrevious: number | null;
  p90TimeFromPrevious: number | null;
}

export interface Funnel {
  topic: string;
  topicName: string;
  from: string;
  to: string;
  window: string;
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
}

export interface TrendSeries {
  stage: number;
  name: string;
  points: { date: string; entries: number }[];
}

export interface Trends {
  topic: string;
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

export type ValueTier = 'high' | 'medium' | 'low';

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
