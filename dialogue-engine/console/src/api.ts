import type {
  Catalog, Conditions, CustomerView, DeadLetter, FiringList, Funnel, FunnelQuery, PipelineReport, SavedSegment, SegmentPage, Trends,
  TriggerConversions, TriggerRule,
} from './types';

/** An answer other than 2xx: the status and the problem+json "detail" (or "title") when there is one. */
export class ApiError extends Error {
  /** The API's list of validation errors, each starting with the field it is about (empty when none). */
  constructor(readonly status: number, message: string, readonly errors: string[] = []) {
    super(message);
    this.name = 'ApiError';
  }

  /** The key is missing, wrong, or lacks read access. */
  get unauthorized(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** Builds a query string from the defined, non-empty values only, in the order given. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The engine's read APIs, every call with `Authorization: Bearer <key>`. */
export class ApiClient {
  constructor(
    readonly key: string,
    private readonly base = '',
    private readonly fetcher: Fetch = (input, init) => fetch(input, init),
  ) {}

  async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.key}`, Accept: 'application/json, text/csv' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await this.fetcher(this.base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store',
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError(0, 'The engine could not be reached. Is it running?');
    }
    if (!response.ok) {
      const problem = await problemOf(response);
      throw new ApiError(response.status, problem.text, problem.errors);
    }
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return (await (await this.request(method, path, body, signal)).json()) as T;
  }

  catalog(signal?: AbortSignal): Promise<Catalog> {
    return this.json('GET', '/api/catalog', undefined, signal);
  }

  funnels(q: Pick<FunnelQuery, 'from' | 'to' | 'window'>, signal?: AbortSignal): Promise<{ funnels: Funnel[] }> {
    return this.json('GET', `/api/funnels${query({ from: q.from, to: q.to, window: q.window, sort: 'conversion' })}`, undefined, signal);
  }

  funnel(topic: string, q: FunnelQuery, signal?: AbortSignal): Promise<Funnel> {
    const qs = query({ from: q.from, to: q.to, window: q.window, channel: q.channel, segment: q.segment, order: q.order, breakdown: q.breakdown });
    return this.json('GET', `/api/funnels/${encodeURIComponent(topic)}${qs}`, undefined, signal);
  }

  trends(q: { topic: string; from?: string; to?: string; interval: 'day' | 'week'; channel?: string; byChannel?: boolean }, signal?: AbortSignal): Promise<Trends> {
    const qs = query({ topic: q.topic, from: q.from, to: q.to, interval: q.interval, channel: q.channel, by: q.byChannel ? 'channel' : undefined });
    return this.json('GET', `/api/trends${qs}`, undefined, signal);
  }

  async segmentCount(conditions: Conditions, signal?: AbortSignal): Promise<number> {
    return (await this.json<{ count: number }>('POST', '/api/segments/count', { conditions }, signal)).count;
  }

  segmentCustomers(conditions: Conditions, page: number, size: number, signal?: AbortSignal): Promise<SegmentPage> {
    return this.json('POST', `/api/segments/customers${query({ page, size })}`, { conditions }, signal);
  }

  /** The segment as CSV, for a download. */
  async exportSegment(conditions: Conditions): Promise<Blob> {
    const response = await this.request('POST', '/api/segments/export', { conditions });
    return new Blob([await response.arrayBuffer()], { type: 'text/csv' });
  }

  async segments(signal?: AbortSignal): Promise<SavedSegment[]> {
    return (await this.json<{ segments: SavedSegment[] }>('GET', '/api/segments', undefined, signal)).segments;
  }

  async saveSegment(segment: SavedSegment): Promise<void> {
    await this.request('PUT', `/api/segments/${encodeURIComponent(segment.id)}`, { name: segment.name, conditions: segment.conditions });
  }

  customer(id: string, signal?: AbortSignal): Promise<CustomerView> {
    return this.json('GET', `/api/customers/${encodeURIComponent(id)}?timeline=200`, undefined, signal);
  }

  // Triggers: the admin key's.
  async triggers(signal?: AbortSignal): Promise<TriggerRule[]> {
    return (await this.json<{ triggers: TriggerRule[] }>('GET', '/api/triggers', undefined, signal)).triggers;
  }

  /** Creates a rule (no id yet) or replaces the one with that id; the API's validation errors come back as ApiError.errors. */
  saveTrigger(rule: TriggerRule, isNew: boolean): Promise<TriggerRule> {
    return isNew ? this.json('POST', '/api/triggers', rule) : this.json('PUT', `/api/triggers/${encodeURIComponent(rule.id)}`, rule);
  }

  async deleteTrigger(id: string): Promise<void> {
    await this.request('DELETE', `/api/triggers/${encodeURIComponent(id)}`);
  }

  firings(id: string, limit: number, signal?: AbortSignal): Promise<FiringList> {
    return this.json('GET', `/api/triggers/${encodeURIComponent(id)}/firings${query({ limit })}`, undefined, signal);
  }

  conversions(id: string, q: { from?: string; to?: string; window?: string }, signal?: AbortSignal): Promise<TriggerConversions> {
    return this.json('GET', `/api/triggers/${encodeURIComponent(id)}/conversions${query({ from: q.from, to: q.to, window: q.window })}`, undefined, signal);
  }

  async deadLetters(rule: string, signal?: AbortSignal): Promise<DeadLetter[]> {
    return (await this.json<{ deadLetters: DeadLetter[] }>('GET', `/api/triggers/dead-letters${query({ rule })}`, undefined, signal)).deadLetters;
  }

  async replay(firingId: string): Promise<void> {
    await this.request('POST', `/api/triggers/dead-letters/${encodeURIComponent(firingId)}/replay`);
  }

  pipeline(signal?: AbortSignal): Promise<PipelineReport> {
    return this.json('GET', '/api/pipeline', undefined, signal);
  }
}

async function problemOf(response: Response): Promise<{ text: string; errors: string[] }> {
  const fallback = `${response.status} ${response.statusText || 'error'}`.trim();
  try {
    const text = await response.text();
    if (!text) return { text: fallback, errors: [] };
    const problem = JSON.parse(text) as { detail?: string; title?: string; errors?: Record<string, string[]> | string[] };
    // The engine's own validation lists its errors; ASP.NET's lists them by field.
    const errors = Array.isArray(problem.errors) ? problem.errors.map(String) : problem.errors ? Object.values(problem.errors).flat() : [];
    return { text: problem.detail || errors.join('; ') || problem.title || fallback, errors };
  } catch {
    return { text: fallback, errors: [] };
  }
}

/** Checks a key against the engine: true for 200, false for 401/403, an ApiError for anything else. */
export async function checkKey(key: string, base = '', fetcher?: Fetch): Promise<Catalog | null> {
  try {
    return await new ApiClient(key, base, fetcher).catalog();
  } catch (e) {
    if (e instanceof ApiError && e.unauthorized) return null;
    throw e;
  }
}
