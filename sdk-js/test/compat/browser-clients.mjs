// Segment's analytics.js (@segment/analytics-next) and RudderStack's JS SDK v3 (@rudderstack/analytics-js),
// the unmodified npm bundles, in headless Chromium against the REAL collector. Run by the .NET
// integration test SegmentCompatibilityTests.BrowserSdkInChromiumWorksUnchanged, which starts the stack
// and then checks Kafka, Redis and the customer API for what this script reports.
//
//   node browser-clients.mjs <segment|rudder> '{"collector":"http://..","writeKey":"..","userId":"..","done":"/tmp/file"}'
//
// The SDKs are configured only as their documentation says (README: "Using an existing Segment or
// RudderStack client"): analytics-next loads its settings from the collector (cdnURL), RudderStack its
// source configuration (configUrl). The page is served from another origin than the collector, so
// CORS is real. Host names do not resolve in this browser: a request anywhere but 127.0.0.1 fails and
// is reported (the test expects none). Steps: identify, page, track and group one by one; a batch;
// a page closed right after an event. Prints `RESULT {json}`, then keeps the browser open until the
// "done" file exists, so that a beacon of the closed page is not cut off.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [client, json] = process.argv.slice(2);
const cfg = JSON.parse(json);
const bundles = {
  segment: '../../node_modules/@segment/analytics-next/dist/umd/index.js',
  rudder: '../../node_modules/@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js',
};
if (!bundles[client]) throw new Error(`unknown client '${client}': segment or rudder`);
const bundle = readFileSync(new URL(bundles[client], import.meta.url));

// What each page does once the SDK is loaded, by mode: "single" sends each call on its own, "batch"
// lets the SDK put two events into one request, "close" holds the event until the page is left.
const setups = {
  segment: `
    const deliveryStrategy = {
      single: undefined,
      batch: { strategy: 'batching', config: { size: 2, timeout: 60000 } },
      close: { strategy: 'batching', config: { size: 10, timeout: 60000 } },
    }[MODE];
    window.sdk = AnalyticsNext.AnalyticsBrowser.load({ writeKey: CFG.writeKey, cdnURL: CFG.collector }, {
      // The collector is plain http here: the metrics client takes its protocol from the load options only.
      integrations: { 'Segment.io': { protocol: 'http', ...(deliveryStrategy ? { deliveryStrategy } : {}) } },
      // Report the SDK's own metrics at once rather than every 30 s, so the test sees /v1/m answered.
      updateCDNSettings: (settings) => ({ ...settings, metrics: { ...settings.metrics, sampleRate: 1, flushTimer: 300 } }),
    }).then(([analytics]) => analytics);
    // Each call answers its event's message id (the Context a call resolves to, once the SDK took the event).
    const id = (context) => context.event.messageId;
    window.calls = {
      identify: (a, userId) => a.identify(userId, { region: 'Gangnam', points: 12000 }).then(id),
      page: (a) => a.page('TV', 'OLED 55').then(id),
      track: (a, name, sku) => a.track(name, { sku, price: 1999 }).then(id),
      group: (a) => a.group('household-7', { size: 3 }).then(id),
    };`,
  rudder: `
    const rudder = new rudderanalytics.RudderAnalytics();
    rudder.load(CFG.writeKey, CFG.collector, {
      configUrl: CFG.collector,
      logLevel: 'ERROR',
      ...(MODE === 'batch' ? { queueOptions: { batch: { enabled: true, maxItems: 2, flushInterval: 60000 } } } : {}),
      ...(MODE === 'close' ? { useBeacon: true, beaconQueueOptions: { maxItems: 10, flushQueueInterval: 60000 } } : {}),
    });
    window.sdk = new Promise((resolve) => rudder.ready(() => resolve(rudder)));
    // Each call answers its event's message id (the callback gets the event as queued for delivery).
    const id = (call) => new Promise((resolve) => call((event) => resolve(event.messageId)));
    window.calls = {
      identify: (r, userId) => id((done) => r.identify(userId, { region: 'Gangnam', points: 12000 }, done)),
      page: (r) => id((done) => r.page('TV', 'OLED 55', done)),
      track: (r, name, sku) => id((done) => r.track(name, { sku, price: 1999 }, done)),
      group: (r) => id((done) => r.group('household-7', { size: 3 }, done)),
    };`,
};

const html = (mode) => `<!doctype html><html><head><meta charset="utf-8"><title>55-inch OLED TV</title>
<script src="/lib/sdk.js"></script>
<script>const CFG = ${JSON.stringify({ collector: cfg.collector, writeKey: cfg.writeKey })}; const MODE = ${JSON.stringify(mode)};${setups[client]}
</script></head><body><h1>55-inch OLED TV</h1></body></html>`;

const server = createServer((request, response) => {
  const url = new URL(request.url, 'http://x');
  if (url.pathname === '/lib/sdk.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  else if (url.pathname === '/favicon.ico') response.writeHead(204).end();
  else response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html(url.searchParams.get('mode') || 'single'));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const site = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Nothing may come from a CDN or a vendor's control plane: every host name fails to resolve.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });

/** Every request to the collector as the browser sent it, with the events it carried and the collector's answer. */
const wire = [];
/** Requests to anywhere but this page's site and the collector. */
const elsewhere = [];
context.on('request', (r) => {
  const url = r.url();
  if (!url.startsWith(cfg.collector)) {
    if (!url.startsWith(site) && !url.startsWith('data:')) elsewhere.push(url);
    return;
  }

  const { pathname } = new URL(url);
  const entry = { method: r.method(), path: pathname, type: r.resourceType(), headers: r.headers(), status: 0, failed: '', events: [] };
  try {
    const body = JSON.parse(r.postData() || 'null');
    const events = body?.batch ?? (body?.type || body?.messageId ? [body] : []);
    entry.events = events.map((e) => ({ id: e.messageId, type: e.type, event: e.event ?? null }));
  } catch {}
  wire.push(entry);
  r.response().then((res) => (entry.status = res ? res.status() : -1), () => {});
});
context.on('requestfailed', (r) => {
  const entry = wire.findLast((w) => w.status === 0 && r.url().startsWith(cfg.collector));
  if (entry) entry.failed = r.failure()?.errorText || 'failed';
});
const acked = () => wire.filter((w) => w.status === 200 && w.method === 'POST').flatMap((w) => w.events.map((e) => ({ ...e, path: w.path })));
const errors = [];

async function until(what, probe, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; requests to the collector: ${JSON.stringify(wire)}; elsewhere: ${JSON.stringify(elsewhere)}; page errors: ${JSON.stringify(errors)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function open(path, mode) {
  const tab = await context.newPage();
  tab.on('pageerror', (e) => errors.push(String(e)));
  tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await tab.goto(`${site}${path}?mode=${mode}`);
  await tab.evaluate(() => window.sdk.then(() => true));
  return tab;
}

/** Calls one SDK method in the page and answers the message id of its event. */
const call = (tab, name, ...args) => tab.evaluate(([n, a]) => window.sdk.then((sdk) => window.calls[n](sdk, ...a)), [name, args]);
/** Waits until the collector acknowledged the event, and answers it with the path it went to. */
const delivered = (what, id) => until(what, () => acked().find((e) => e.id === id));

const result = { client, steps: {} };
try {
  // 1. One call at a time, on the product page (stage 1), then the cart (stage 3).
  const single = await open('/tv/oled-55', 'single');
  result.steps.identify = await delivered('the identify', await call(single, 'identify', cfg.userId));
  result.steps.page = await delivered('the page', await call(single, 'page'));
  result.steps.track = await delivered('the track', await call(single, 'track', 'Product Added', 'oled-55'));
  result.steps.group = await delivered('the group', await call(single, 'group'));
  if (client === 'segment') {
    // The SDK's own metrics (analytics_js.invoke of the calls above) are answered, and never stored as events.
    result.metricsAnswered = await until('the metrics call', () => wire.some((w) => w.path === '/v1/m' && w.status === 200));
  }
  await single.close();

  // 2. Two events in one request: the specs page (stage 2) and the cart again.
  const batched = await open('/tv/oled-55/specs', 'batch');
  const batch = [await call(batched, 'page'), await call(batched, 'track', 'Product Added', 'oled-55')];
  result.steps.batch = [await delivered('the batched page', batch[0]), await delivered('the batched track', batch[1])];
  await batched.close();

  // 3. The order, and the page closed right away: only the SDK's page-leave delivery can send it. The
  // browser does not report requests of a closed page, so the test looks for this one in Kafka.
  const closing = await open('/checkout', 'close');
  const order = await call(closing, 'track', 'Order Completed', 'oled-55');
  // Held by the SDK, not yet sent: the batch waits for 10 events or 60 s, the beacon queue likewise.
  await closing.waitForTimeout(300);
  result.sentBeforeClose = wire.some((w) => w.events.some((e) => e.id === order));
  await closing.close({ runBeforeUnload: true });
  result.steps.closed = { id: order, type: 'track', event: 'Order Completed' };
} catch (e) {
  result.error = String(e.stack || e);
}

result.wire = wire;
result.elsewhere = elsewhere;
result.errors = errors;
console.log('RESULT ' + JSON.stringify(result));
if (cfg.done) {
  const end = Date.now() + 120000;
  while (!existsSync(cfg.done) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
}
await browser.close();
server.close();
process.exit(result.error ? 1 : 0);
