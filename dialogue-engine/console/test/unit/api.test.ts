import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, checkKey, query } from '../../src/api';

interface Call { url: string; method: string; headers: Record<string, string>; body: unknown }

/** A fetch that records each request and answers from a table of (method path) -> response. */
function fakeFetch(answers: Record<string, () => Response> = {}) {
  const calls: Call[] = [];
  const fetcher = async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    calls.push({ url, method, headers: init?.headers as Record<string, string>, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const path = url.split('?')[0];
    const answer = answers[`${method} ${path}`];
    return answer ? answer() : new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return { calls, fetcher };
}
const json = (body: unknown, status = 200) => () => new Response(JSON.stringify(body), { status, headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' } });

describe('API client', () => {
  it('builds query strings from the given values only', () => {
    expect(query({ a: '1', b: undefined, c: '', d: null, e: 0 })).toBe('?a=1&e=0');
    expect(query({})).toBe('');
    expect(query({ breakdown: 'trait:age band' })).toBe('?breakdown=trait%3Aage%20band');
  });

  it('sends the key as a Bearer token on every call', async () => {
    const { calls, fetcher } = fakeFetch({
      'GET /api/segments': json({ segments: [] }),
      'POST /api/segments/count': json({ count: 3 }),
      'POST /api/segments/customers': json({ customers: [], page: 1, size: 50, total: 0 }),
      'GET /api/funnels': json({ funnels: [] }),
    });
    const api = new ApiClient('ak_secret', '', fetcher);
    await api.catalog();
    await api.funnels({});
    await api.funnel('t', {});
    await api.trends({ topic: 't', interval: 'day' });
    await api.segmentCount({});
    await api.segmentCustomers({}, 1, 50);
    await api.exportSegment({});
    await api.segments();
    await api.saveSegment({ id: 's', name: 'S', conditions: {} });
    await api.customer('c');
    expect(calls).toHaveLength(10);
    for (const call of calls) expect(call.headers.Authorization).toBe('Bearer ak_secret');
  });

  it('asks for a funnel with its filters, the topic escaped, empty filters left out', async () => {
    const { calls, fetcher } = fakeFetch();
    const api = new ApiClient('k', 'http://engine', fetcher);
    await api.funnel('tv oled/55', { from: '2026-11-01', to: '2026-11-30', window: '7d', channel: 'web', segment: '', order: 'strict', breakdown: 'trait:region' });
    expect(calls[0].url).toBe('http://engine/api/funnels/tv%20oled%2F55?from=2026-11-01&to=2026-11-30&window=7d&channel=web&order=strict&breakdown=trait%3Aregion');
    await api.funnels({ from: '2026-11-01', to: '2026-11-30', window: '14d' });
    expect(calls[1].url).toBe('http://engine/api/funnels?from=2026-11-01&to=2026-11-30&window=14d&sort=conversion');
    await api.trends({ topic: 'spa-gangnam', from: '2026-11-01', to: '2026-11-30', interval: 'week', channel: '' });
    expect(calls[2].url).toBe('http://engine/api/trends?topic=spa-gangnam&from=2026-11-01&to=2026-11-30&interval=week');
    await api.trends({ topic: 'spa-gangnam', interval: 'day', byChannel: true });
    expect(calls[3].url).toBe('http://engine/api/trends?topic=spa-gangnam&interval=day&by=channel');
  });

  it('posts segment conditions as {"conditions": C} and saves with PUT /api/segments/{id}', async () => {
    const { calls, fetcher } = fakeFetch({ 'POST /api/segments/count': json({ count: 42 }) });
    const api = new ApiClient('k', '', fetcher);
    const conditions = { dialogue: [{ topic: 'spa-gangnam', minStage: 2 }], excludeSuppressed: true };
    expect(await api.segmentCount(conditions)).toBe(42);
    await api.segmentCustomers(conditions, 3, 25);
    await api.saveSegment({ id: 'spa readers', name: 'Spa readers', conditions });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/segments/count', 'POST /api/segments/customers?page=3&size=25', 'PUT /api/segments/spa%20readers',
    ]);
    expect(calls[0].body).toEqual({ conditions });
    expect(calls[1].body).toEqual({ conditions });
    expect(calls[2].body).toEqual({ name: 'Spa readers', conditions });
    expect(calls[0].headers['Content-Type']).toBe('application/json');
  });

  it('exports the CSV as a blob for a download link', async () => {
    const { fetcher } = fakeFetch({ 'POST /api/segments/export': () => new Response('customerId\nc1\nc2\n', { headers: { 'content-type': 'text/csv' } }) });
    const blob = await new ApiClient('k', '', fetcher).exportSegment({});
    expect(blob.type).toBe('text/csv');
    expect(await blob.text()).toBe('customerId\nc1\nc2\n');
  });

  it('turns a problem+json answer into an error carrying its detail', async () => {
    const { fetcher } = fakeFetch({ 'POST /api/segments/count': json({ title: 'Bad Request', status: 400, detail: "unknown topic 'x'" }, 400) });
    const error = await new ApiClient('k', '', fetcher).segmentCount({}).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.message).toBe("unknown topic 'x'");
    expect(error.unauthorized).toBe(false);
  });

  it('uses validation errors, then the title, then the status when there is no detail', async () => {
    const errors = fakeFetch({ 'GET /api/catalog': json({ title: 'One or more validation errors occurred.', errors: { from: ['from must be a date'] } }, 400) });
    expect((await new ApiClient('k', '', errors.fetcher).catalog().catch((e) => e)).message).toBe('from must be a date');
    const bare = fakeFetch({ 'GET /api/catalog': () => new Response('', { status: 502, statusText: 'Bad Gateway' }) });
    expect((await new ApiClient('k', '', bare.fetcher).catalog().catch((e) => e)).message).toBe('502 Bad Gateway');
  });

  it('checks a key: the catalog for 200, null for 401 and 403, an error otherwise', async () => {
    const ok = fakeFetch({ 'GET /api/catalog': json({ stages: ['a'], topics: [] }) });
    expect(await checkKey('good', '', ok.fetcher)).toEqual({ stages: ['a'], topics: [] });
    for (const status of [401, 403]) {
      const denied = fakeFetch({ 'GET /api/catalog': json({ detail: 'no' }, status) });
      expect(await checkKey('bad', '', denied.fetcher)).toBeNull();
    }
    const down = fakeFetch({ 'GET /api/catalog': json({ detail: 'redis is down' }, 503) });
    await expect(checkKey('good', '', down.fetcher)).rejects.toThrow('redis is down');
  });

  it('reports an unreachable engine plainly, and lets aborts through as aborts', async () => {
    const api = new ApiClient('k', '', async () => { throw new TypeError('Failed to fetch'); });
    const error = await api.catalog().catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(0);
    const aborted = new ApiClient('k', '', async () => { throw new DOMException('aborted', 'AbortError'); });
    expect((await aborted.catalog().catch((e) => e)).name).toBe('AbortError');
  });
});
