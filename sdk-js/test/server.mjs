// A small stand-in for the Ecrm collector and recommender, used by the unit and browser tests.
// It records every request it receives and can be told to fail the next N batch requests.
//
//   POST /v1/batch            {"batch":[...],"sentAt":"..."}  auth: Basic base64(writeKey+":") or "writeKey" in the body
//   POST /v1/recommendations  {"anonymousId","userId","slot","n","context"}
//   GET  /assets/e.js         the built dist/ecrm.min.js (neutral first-party name)
//   GET  <path>               HTML registered with srv.page(path, html)
//
// Run standalone for manual poking: `node test/server.mjs 8787`.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const DIST = new URL('../dist/', import.meta.url);

export async function startServer({ port = 0, writeKey = 'wk_test' } = {}) {
  const srv = {
    /** Every request, including CORS preflights. */
    requests: [],
    /** Accepted batch requests (HTTP 200). */
    batches: [],
    /** Statuses to answer the next batch requests with, e.g. [503]. */
    failures: [],
    /** Full Set-Cookie value for batch responses (e.g. an HttpOnly id cookie), for useServerCookie tests. */
    serverCookie: null,
    /** The id batch responses name as the browser's (the real collector's Collector:IdentityCookieName id). */
    browserId: null,
    pages: new Map(),
    recommendation: {
      recommendationId: 'rec_1',
      model: 'test-model',
      items: [
        { id: 'i1', title: 'OLED 55 details', url: '/tv/oled-55/details', topic: 'tv-oled-55', stage: 2, score: 0.9, reason: 'next-stage' },
        { id: 'i2', title: 'OLED 55 offer', url: '/tv/oled-55/offer', topic: 'tv-oled-55', stage: 3, score: 0.7, reason: 'next-stage' },
        { id: 'i3', title: 'Evil', url: 'javascript:alert(1)', topic: 'x', stage: 1, score: 0.1, reason: 'xss-check' },
      ],
    },
    writeKey,
    page(path, html) {
      srv.pages.set(path, html);
    },
    failNext(status, n = 1) {
      for (let i = 0; i < n; i++) srv.failures.push(status);
    },
    /** All events of accepted batches, in arrival order. */
    events() {
      return srv.batches.flatMap((b) => b.body.batch);
    },
    /** Accepted events after dropping repeated messageIds, as the collector's dedupe does. */
    unique() {
      const seen = new Set();
      return srv.events().filter((e) => !seen.has(e.messageId) && seen.add(e.messageId));
    },
    /** Accepted events of one type / name. */
    find(type, name) {
      return srv.events().filter((e) => e.type === type && (name === undefined || e.event === name || e.name === name));
    },
    reset() {
      srv.requests.length = srv.batches.length = srv.failures.length = 0;
      srv.serverCookie = srv.browserId = null;
    },
    /** Resolve when pred() is true, polling every 20 ms; reject after ms. */
    async until(pred, ms = 5000, what = 'condition') {
      const end = Date.now() + ms;
      for (;;) {
        const v = pred();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(srv.requests.map((r) => [r.method, r.path, r.status]))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url, 'http://x');
      const rec = {
        method: req.method,
        path: u.pathname,
        headers: req.headers,
        contentType: req.headers['content-type'] || '',
        cookie: req.headers.cookie || '',
        raw,
        size: Buffer.byteLength(raw),
        status: 0,
        at: Date.now(),
      };
      srv.requests.push(rec);
      const origin = req.headers.origin;
      const send = (status, body, type = 'application/json', extra = {}) => {
        rec.status = status;
        res.writeHead(status, {
          'Content-Type': type,
          'Access-Control-Allow-Origin': origin || '*',
          'Access-Control-Allow-Credentials': 'true',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type',
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Cache-Control': 'no-store',
          Vary: 'Origin',
          ...extra,
        });
        res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
      };
      if (req.method === 'OPTIONS') return send(204, '');

      if (req.method === 'POST' && (u.pathname === '/v1/batch' || u.pathname === '/v1/recommendations')) {
        let body;
        try {
          body = JSON.parse(raw);
        } catch {
          return send(400, { success: false, error: 'invalid json' });
        }
        rec.body = body;
        const m = /^Basic (.+)$/.exec(req.headers.authorization || '');
        rec.writeKey = m ? Buffer.from(m[1], 'base64').toString().replace(/:$/, '') : body.writeKey;
        if (rec.writeKey !== srv.writeKey) return send(401, { success: false, error: 'bad write key' });

        if (u.pathname === '/v1/recommendations') return send(200, srv.recommendation);

        if (srv.failures.length) {
          const status = srv.failures.shift();
          return send(status, { success: false });
        }
        if (!Array.isArray(body.batch) || typeof body.sentAt !== 'string') return send(400, { success: false, error: 'bad batch' });
        srv.batches.push(rec);
        return send(200, srv.browserId ? { success: true, anonymousId: srv.browserId } : { success: true }, 'application/json', srv.serverCookie ? { 'Set-Cookie': srv.serverCookie } : {});
      }

      if (req.method === 'GET' && u.pathname === '/assets/e.js') return send(200, readFileSync(new URL('ecrm.min.js', DIST)), 'text/javascript');
      if (req.method === 'GET' && srv.pages.has(u.pathname)) return send(200, srv.pages.get(u.pathname), 'text/html; charset=utf-8');
      send(404, { error: 'not found' });
    });
  });

  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  srv.port = server.address().port;
  srv.url = `http://127.0.0.1:${srv.port}`;
  srv.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(r);
    });
  return srv;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const srv = await startServer({ port: +(process.argv[2] || 8787) });
  console.log(`test collector on ${srv.url} (writeKey ${srv.writeKey})`);
}
