/** Consent state. */
export type Consent = 'granted' | 'denied';

/** Free-form properties / traits. */
export type Props = Record<string, unknown>;

/** Options for `ecrm.init()`. */
export interface Options {
  /** Source write key (required). Sent as HTTP Basic user name. */
  writeKey: string;
  /** Collector base URL, e.g. `https://c.example.com`. Default `''` (same origin as the page). */
  host?: string;
  /** Recommender base URL. Defaults to `host`. */
  recommenderHost?: string;
  /** Send a batch as soon as this many events are queued. Default 20. */
  flushAt?: number;
  /** Send queued events at the latest this many ms after the first one. Default 5000. */
  flushInterval?: number;
  /** Track a page view on init and on single-page-app history changes. Default true. */
  autoPage?: boolean;
  /** Consent state used until the visitor calls optIn()/optOut(). Default 'granted'. */
  consent?: Consent;
  /** Treat `navigator.doNotTrack == "1"` or Global Privacy Control as opted out, unless the visitor called optIn(). Default false. */
  respectDoNotTrack?: boolean;
  /** Default trigger for `data-ecrm-topic` elements without `data-ecrm-trigger`. Default 'view'. */
  annotationTrigger?: 'view' | 'click' | 'view click';
  /** Domain attribute of the anonymous-id cookie, e.g. `example.com` to share it across subdomains. */
  cookieDomain?: string;
  /** Send requests with credentials so the collector's first-party HttpOnly id cookie is used. Default false. */
  useServerCookie?: boolean;
  /** Maximum number of events kept in the offline queue (oldest dropped first). Default 1000. */
  maxQueueSize?: number;
}

/** Stage annotation carried in `context.ecrm`. */
export interface Annotation {
  topic: string;
  stage?: number | string;
}

export interface PageContext {
  url: string;
  path: string;
  referrer: string;
  title: string;
  search: string;
}

/** Segment-shaped event as sent to `/v1/batch`. */
export interface EcrmEvent {
  messageId: string;
  type: 'track' | 'page' | 'identify' | 'alias' | 'group';
  channel: 'web';
  anonymousId: string;
  userId?: string;
  event?: string;
  name?: string;
  properties?: Props;
  traits?: Props;
  previousId?: string;
  groupId?: string;
  originalTimestamp: string;
  context: {
    page: PageContext;
    userAgent: string;
    locale: string;
    library: { name: 'ecrm-js'; version: string };
    campaign?: Record<string, string>;
    ecrm?: Annotation;
    [k: string]: unknown;
  };
}

export interface RecommendItem {
  id: string;
  title: string;
  url: string;
  topic?: string;
  stage?: number | string;
  score?: number;
  reason?: string;
}

export interface RecommendResponse {
  recommendationId: string;
  items: RecommendItem[];
  model?: string;
}

export interface RecommendOptions {
  /** Placement name, e.g. `home-hero`. */
  slot: string;
  /** Number of items wanted. Default 4. */
  n?: number;
  /** Element or CSS selector to render the items into. Without it the data is only returned. */
  container?: Element | string | null;
  /** Custom renderer for one item (position is 1-based). Default: a link with the item title. */
  render?: (item: RecommendItem, position: number) => Element;
}

export interface IdentifyOptions {
  /** hex(HMAC-SHA256(identity secret, userId)), computed by the site's server, never in the page. */
  userHash?: string;
}

export interface Ecrm {
  init(options: Options): void;
  page(name?: string | Props, properties?: Props): void;
  track(event: string, properties?: Props, context?: Props): void;
  /**
   * Names the user. With `options.userHash`, the signature your server made of the user id
   * (hex HMAC-SHA256 with the source's identity secret), the user may read their own recommendations
   * and change protected traits (email, phone, suppressed, optedOut); without it the user id is unproved.
   */
  identify(userId?: string | Props, traits?: Props, options?: IdentifyOptions): void;
  alias(userId: string, previousId?: string): void;
  group(groupId: string, traits?: Props): void;
  /** Forget the user id and start a new anonymous id (e.g. on logout). */
  reset(): void;
  /** Stop tracking; clears the queue and ids and stores only the opt-out flag. Works before init. */
  optOut(): void;
  /** Record consent and (re)start tracking. */
  optIn(): void;
  recommend(options: RecommendOptions): Promise<RecommendResponse | null>;
  /** Send queued events now. */
  flush(): void;
  /** Current ids (null when not tracking). */
  user(): { anonymousId: string | null; userId: string | null };
}
