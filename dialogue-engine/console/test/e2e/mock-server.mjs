// A stand-in engine for working on the console without the stack: serves the built console at /console
// and answers the API contract of issue 5 with made-up but consistent numbers (the demo catalog's topics).
//
//   node test/e2e/mock-server.mjs [port]        (npm run dev)   key: mock-key
//
// The browser scenario (console.mjs) runs against it too, so the UI can be checked before the engine
// serves the funnel and segment APIs.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const www = join(here, '../../../wwwroot/console');
const catalogFile = join(here, '../../../../dev/demo/topic-catalog.json');
export const MOCK_KEY = 'mock-key';

const catalog = JSON.parse(readFileSync(catalogFile, 'utf8'));
const types = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.txt': 'text/plain' };

function rng(seed) {
  let s = [...seed].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

function stagesFor(seed, entering) {
  const r = rng(seed);
  let n = entering;
  return catalog.stages.map((name, i) => {
    const prev = n;
    if (i > 0) n = Math.round(n * (0.3 + r() * 0.4));
    return {
      stage: i + 1, name, customers: n,
      conversionFromPrevious: i === 0 ? 1 : prev ? n / prev : 0,
      conversionFromFirst: entering ? n / entering : 0,
      medianTimeFromPrevious: i === 0 ? null : Math.round(600 + r() * 86400),
      p90TimeFromPrevious: i === 0 ? null : Math.round(86400 + r() * 86400 * 5),
    };
  });
}

function funnel(topic, q) {
  const t = catalog.topics.find((x) => x.id === topic);
  const key = `${topic}|${q.get('channel') ?? ''}|${q.get('segment') ?? ''}|${q.get('from') ?? ''}|${q.get('window') ?? ''}|${q.get('order') ?? ''}`;
  const base = Math.round(400 / (catalog.topics.indexOf(t) + 1) + 40) * (q.get('channel') ? 0.5 : 1) * (q.get('segment') ? 0.3 : 1);
  const b = q.get('breakdown') ?? '';
  const keys = b === 'channel' || b === 'firstChannel' ? ['web', 'email', 'mobile']
    : b === 'cohortWeek' ? ['2026-10-26', '2026-11-02', '2026-11-09', '2026-11-16']
    : b.startsWith('trait:') ? ['Gangnam', 'Seocho', 'Mapo', 'Busan'] : [];
  return {
    topic, topicName: t.name, from: q.get('from'), to: q.get('to'), window: q.get('window') ?? '7d', order: q.get('order') ?? 'dialogue',
    stages: stagesFor(key, Math.round(base)),
    breakdown: keys.map((k, i) => ({ key: k, stages: stagesFor(key + k, Math.round(base / (i + 1.5))) })),
  };
}

function trends(q) {
  const topic = q.get('topic');
  const week = q.get('interval') === 'week';
  const from = new Date(`${q.get('from')}T00:00:00Z`), to = new Date(`${q.get('to')}T00:00:00Z`);
  const r = rng(topic + (q.get('channel') ?? ''));
  const dates = [];
  for (let d = new Date(from); d <= to; d.setUTCDate(d.getUTCDate() + (week ? 7 : 1))) dates.push(d.toISOString().slice(0, 10));
  const channels = q.get('by') === 'channel' ? ['email', 'mobile', 'web'] : [null];
  return {
    topic, interval: week ? 'week' : 'day',
    series: catalog.stages.flatMap((name, i) => channels.map((channel, c) => ({ stage: i + 1, name, channel,
      points: dates.map((date, j) => ({ date, entries: Math.round((40 + 20 * Math.sin(j / 3 + c) + r() * 15) * (week ? 6 : 1) * 0.5 ** i / channels.length) })) }))),
  };
}

const customers = Array.from({ length: 437 }, (_, i) => ({
  customerId: `user-${String(i + 1).padStart(6, '0')}`,
  valueTier: i % 5 === 0 ? 'none' : ['high', 'medium', 'low'][i % 3],
  orders: i % 5,
  revenue: i % 5 === 0 ? 0 : Math.round(((i * 3571) % 250000)) / 100,
  lastSeen: new Date(Date.UTC(2026, 10, 1 + (i % 25), 10)).toISOString(),
}));
const traits = (i) => ({ region: ['Gangnam', 'Seocho', 'Mapo', 'Busan'][i % 4], points: (i * 7919) % 30000 });

/** A count that moves with every condition, so the live count visibly reacts. */
function matching(c) {
  let list = customers;
  for (const d of c.dialogue ?? []) list = list.filter((x, i) => (i + d.topic.length) % ((d.minStage ?? 1) + 1) === 0 && (!d.notConverted || i % 7) && (!d.withinDays || i % 30 < d.withinDays));
  for (const t of c.traits ?? []) {
    list = list.filter((x) => {
      const v = traits(Number(x.customerId.slice(5)) - 1)[t.name];
      if (v === undefined) return false;
      switch (t.op) {
        case 'eq': return String(v) === String(t.value);
        case 'ne': return String(v) !== String(t.value);
        case 'contains': return String(v).includes(String(t.value));
        case 'gte': return Number(v) >= Number(t.value);
        case 'gt': return Number(v) > Number(t.value);
        case 'lte': return Number(v) <= Number(t.value);
        case 'lt': return Number(v) < Number(t.value);
        default: return false;
      }
    });
  }
  const a = c.activity ?? {};
  if (a.valueTier) list = list.filter((x) => x.valueTier === a.valueTier);
  if (a.minOrders !== undefined) list = list.filter((x) => x.orders >= a.minOrders);
  if (a.minRevenue !== undefined) list = list.filter((x) => x.revenue >= a.minRevenue);
  if (c.excludeSuppressed) list = list.filter((_, i) => i % 50 !== 49);
  return list;
}

const segments = new Map([['gangnam-spa', { id: 'gangnam-spa', name: 'Gangnam spa readers', conditions: { dialogue: [{ topic: 'spa-gangnam', minStage: 2, withinDays: 14, notConverted: true }], traits: [{ name: 'region', op: 'eq', value: 'Gangnam' }], excludeSuppressed: true } }]]);

function customerView(id) {
  const now = Date.now();
  const at = (h) => new Date(now - h * 3600e3).toISOString();
  const e = (h, channel, type, event, topics, stages) => ({ timestamp: at(h), channel, type, event, topics, stages });
  const oled = [e(2, 'web', 'track', 'Product Added', ['tv-oled-55'], [3]), e(30, 'email', 'track', 'Email Link Clicked', ['tv-oled-55'], [2]), e(50, 'email', 'track', 'Email Opened', ['tv-oled-55'], [1]), e(52, 'web', 'page', '/tv/oled-55', ['tv-oled-55'], [1])];
  const bar = [e(100, 'mobile', 'screen', 'SoundbarDetail', ['soundbar-s7'], [2]), e(120, 'web', 'page', '/audio/soundbar-s7', ['soundbar-s7'], [1])];
  return {
    customerId: id, identities: [id, 'anon-000001-12345'], traits: { region: 'Gangnam', ageBand: '35-44', points: 12800 },
    dialogues: [
      { topic: 'tv-oled-55', topicName: '55-inch OLED TV', stage: 3, stageName: 'consideration', status: 'open', episode: 1, score: 7.4, firstInteraction: at(52), lastInteraction: at(2),
        stages: [{ stage: 1, name: 'awareness', at: at(52), channel: 'web' }, { stage: 2, name: 'interest', at: at(30), channel: 'email' }, { stage: 3, name: 'consideration', at: at(2), channel: 'web' }], interactions: { web: 2, email: 2 } },
      { topic: 'soundbar-s7', topicName: 'S7 Soundbar', stage: 2, stageName: 'interest', status: 'open', episode: 1, score: 2.1, firstInteraction: at(120), lastInteraction: at(100),
        stages: [{ stage: 1, name: 'awareness', at: at(120), channel: 'web' }, { stage: 2, name: 'interest', at: at(100), channel: 'mobile' }], interactions: { web: 1, mobile: 1 } },
    ],
    timeline: [...oled, ...bar],
    timelineByTopic: [{ topic: 'tv-oled-55', topicName: '55-inch OLED TV', interactions: oled }, { topic: 'soundbar-s7', topicName: 'S7 Soundbar', interactions: bar }],
  };
}

const json = (res, status, body) => res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' }).end(JSON.stringify(body));
const readBody = (req) => new Promise((resolve) => { let s = ''; req.on('data', (c) => (s += c)); req.on('end', () => resolve(s ? JSON.parse(s) : {})); });

export function startMockServer(port = 0, { delayMs = 120 } = {}) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    if (path === '/console' || path === '/console/') return res.writeHead(200, { 'content-type': types['.html'] }).end(readFileSync(join(www, 'index.html')));
    if (path.startsWith('/console/')) {
      const file = normalize(join(www, path.slice('/console/'.length)));
      if (!file.startsWith(www) || !existsSync(file)) return res.writeHead(404).end();
      return res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    }
    if (!path.startsWith('/api/')) return res.writeHead(404).end();
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) return json(res, 401, { title: 'Unauthorized', detail: 'an API key is required' });
    if (auth.slice(7) !== MOCK_KEY) return json(res, 403, { title: 'Forbidden', detail: 'this key does not grant read access' });
    await new Promise((r) => setTimeout(r, delayMs));
    const q = url.searchParams;
    let m;
    if (path === '/api/catalog') return json(res, 200, catalog);
    if (path === '/api/funnels') {
      const list = catalog.topics.map((t) => ({ ...funnel(t.id, q), breakdown: [] }));
      return json(res, 200, { funnels: list.sort((a, b) => b.stages.at(-1).conversionFromFirst - a.stages.at(-1).conversionFromFirst) });
    }
    if ((m = /^\/api\/funnels\/([^/]+)$/.exec(path))) {
      const topic = decodeURIComponent(m[1]);
      if (!catalog.topics.some((t) => t.id === topic)) return json(res, 404, { title: 'Not Found', detail: `no topic '${topic}'` });
      return json(res, 200, funnel(topic, q));
    }
    if (path === '/api/trends') return json(res, 200, trends(q));
    if (path === '/api/segments' && req.method === 'GET') return json(res, 200, { segments: [...segments.values()] });
    if (path === '/api/segments/count') return json(res, 200, { count: matching((await readBody(req)).conditions ?? {}).length });
    if (path === '/api/segments/customers') {
      const list = matching((await readBody(req)).conditions ?? {});
      const page = Number(q.get('page') ?? 1), size = Number(q.get('size') ?? 50);
      return json(res, 200, { customers: list.slice((page - 1) * size, page * size), page, size, total: list.length });
    }
    if (path === '/api/segments/export') {
      const list = matching((await readBody(req)).conditions ?? {});
      return res.writeHead(200, { 'content-type': 'text/csv' }).end(['customerId,valueTier', ...list.map((c) => `${c.customerId},${c.valueTier}`)].join('\n') + '\n');
    }
    if ((m = /^\/api\/segments\/([^/]+)$/.exec(path)) && req.method === 'PUT') {
      const body = await readBody(req);
      const id = decodeURIComponent(m[1]);
      segments.set(id, { id, name: body.name, conditions: body.conditions });
      return json(res, 200, segments.get(id));
    }
    if ((m = /^\/api\/customers\/([^/]+)$/.exec(path))) return json(res, 200, customerView(decodeURIComponent(m[1])));
    return json(res, 404, { title: 'Not Found' });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startMockServer(Number(process.argv[2] ?? 5180));
  console.log(`mock engine: http://127.0.0.1:${server.address().port}/console  (API key: ${MOCK_KEY})`);
}
