import type {
  Catalog, Conditions, CustomerView, Funnel, FunnelQuery, SavedSegment, SegmentPage, Trends,
} from './types';

/** An answer other than 2xx: the status and the problem+json "detail" (or "title") when there is one. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
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
    if (!response.ok) throw new ApiError(response.status, await problemText(response));
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
}

async function problemText(response: Response): Promise<string> {
  const fallback = `${response.status} ${response.statusText || 'error'}`.trim();
  try {
    const text = await response.text();
    if (!text) return fallback;
    const problem = JSON.parse(text) as { detail?: string; title?: string; errors?: Record<string, string[]> };
    const errors = problem.errors ? Object.values(problem.errors).flat().join('; ') : '';
    return problem.detail || errors || problem.title || fallback;
  } catch {
    return fallback;
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
