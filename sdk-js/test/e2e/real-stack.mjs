// The built tracker in headless Chromium against the REAL Ecrm collector, engine and recommender.
// Run by the .NET integration tests (tests/Ecrm.IntegrationTests/Tracker*Tests.cs), which start the
// services and then check Kafka, Redis and ClickHouse for what this script reports.
//
//   node real-stack.mjs <scenario> '{"collector":"http://..","recommender":"http://..","writeKey":"..","done":"/tmp/file"}'
//
// It serves the demo pages itself, from another origin than the collector (CORS is real), runs one
// scenario, prints `RESULT {json}` and, when "done" is given, keeps the browser open until that file
// exists, so that events still on their way (beacons of a closed page) are not cut off.
// Every wait polls with a deadline; a scenario that does not reach its state fails with what it saw.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [scenario, json] = process.argv.slice(2);
const cfg = JSON.parse(json);
const tracker = readFileSync(new URL('../../dist/ecrm.min.js', import.meta.url));

/** A page that loads the tracker with a plain <script src> from a neutral path, then calls init on the next line. */
const html = (title, init, body, bodyAttrs = '') => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script src="/assets/e.js"></script>
<script>ecrm.init(${JSON.stringify({ writeKey: cfg.writeKey, host: cfg.collector, flushAt: 1, flushInterval: 200, ...init })})</script>
<style>section{min-height:120vh}</style></head><body ${bodyAttrs}>${body}</body></html>`;

const pages = {
  // The demo product page: the path is stage 1, the details section "interest" (2) when viewed, the
  // client-side route to /tv/oled-55/compare is stage 3, the buy button "purchase" (4) when clicked.
  stages: () =>
    html('55-inch OLED TV', {}, `<h1>55-inch OLED TV</h1>
<nav><a id="compare" href="/tv/oled-55/compare">Compare (client-side route)</a></nav>
<section id="intro"><p>Perfect blacks, thin panel.</p></section>
<section id="details" data-ecrm-topic="tv-oled-55" data-ecrm-stage="interest"><h2>Every detail</h2><p>Panel, ports, sound.</p></section>
<button id="buy" data-ecrm-topic="tv-oled-55" data-ecrm-stage="purchase" data-ecrm-trigger="click">Buy now</button>
<script>document.getElementById('compare').addEventListener('click', function (e) { e.preventDefault(); history.pushState({}, '', this.href); });</script>`),
  plain: (init) => html('Plain', { autoPage: false, ...init }, '<p>plain</p>'),
  annotated: (init) =>
    html('55-inch OLED TV', init, `<section id="details" data-ecrm-topic="tv-oled-55" data-ecrm-stage="2"><h2>Details</h2></section>
<button id="buy" data-ecrm-topic="tv-oled-55" data-ecrm-stage="3" data-ecrm-trigger="click">Buy now</button>`, 'data-ecrm-topic="tv-oled-55" data-ecrm-stage="1"'),
  recommend: () =>
    html('55-inch OLED TV specs', { recommenderHost: cfg.recommender }, `<h1>Specs</h1><section><p>Panel, ports, sound.</p></section>
<h2>Next for you</h2><div id="recs"></div>`, 'data-ecrm-topic="tv-oled-55" data-ecrm-stage="2"'),
};
let current = '';

const server = createServer((request, response) => {
  if (request.url.startsWith('/assets/e.js')) response.writeHead(200, { 'content-type': 'text/javascript' }).end(tracker);
  else if (request.url === '/favicon.ico') response.writeHead(404).end();
  else response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(current);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const site = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });

/** Every request to the collector as the browser sent it (beacons included), with the collector's answer. */
const wire = [];
context.on('request', (r) => {
  if (!r.url().startsWith(cfg.collector)) return;
  const entry = { method: r.method(), type: r.resourceType(), status: 0, failed: '', events: [] };
  try {
    entry.events = (JSON.parse(r.postData() || '{}').batch || []).map((e) => ({ id: e.messageId, type: e.type, event: e.event, anonymousId: e.anonymousId }));
  } catch {}
  wire.push(entry);
  r.response().then((res) => (entry.status = res ? res.status() : -1), () => {});
});
context.on('requestfailed', (r) => {
  const entry = wire.findLast((w) => w.status === 0 && r.url().startsWith(cfg.collector));
  if (entry) entry.failed = r.failure()?.errorText || 'failed';
});
/** Events of requests the collector acknowledged (200), in the order sent. */
const acked = (pred = () => true) => wire.filter((w) => w.status === 200).flatMap((w) => w.events).filter(pred);
const ack = (pred) => acked(pred)[0];

async function until(what, probe, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; requests to the collector: ${JSON.stringify(wire)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Open a page of the local site with the given HTML. */
async function open(path, body, tab) {
  current = body;
  tab ??= await context.newPage();
  await tab.goto(site + path);
  return tab;
}

const queued = (tab) => tab.evaluate(() => JSON.parse(localStorage.getItem('ecrm_q') || '[]'));
const user = (tab) => tab.evaluate(() => ecrm.user().anonymousId);
/** Nothing queued and no request to the collector without an answer. */
const idle = async (tab) => (await queued(tab)).length === 0 && wire.every((w) => w.status !== 0 || w.failed);

const scenarios = {
  /** Page view, annotated section on view, SPA route change, annotated click: one stage each. */
  async stages() {
    const tab = await open('/tv/oled-55', pages.stages());
    const page = await until('the page view', () => ack((e) => e.type === 'page'));
    await tab.locator('#details').scrollIntoViewIfNeeded();
    const viewed = await until('the section view', () => ack((e) => e.event === 'Element Viewed'));
    await tab.evaluate(() => scrollTo(0, 0));
    await tab.click('#compare');
    const route = await until('the route change', () => ack((e) => e.type === 'page' && e.id !== page.id));
    await tab.click('#buy');
    const click = await until('the click', () => ack((e) => e.event === 'Element Clicked'));
    return { anonymousId: await user(tab), messageIds: [page.id, viewed.id, route.id, click.id] };
  },

  /** Events made while the network is cut arrive once it returns, each once. */
  async offline() {
    const tab = await open('/plain', pages.plain());
    await context.setOffline(true);
    await tab.evaluate(() => [1, 2, 3].forEach((i) => ecrm.track('Offline ' + i, { i }, { ecrm: { topic: 'tv-oled-55', stage: 1 } })));
    await until('a failed attempt while offline', () => wire.some((w) => w.failed));
    const messageIds = (await queued(tab)).map((e) => e.messageId);
    if (messageIds.length !== 3) throw new Error(`expected 3 queued events, found ${messageIds.length}`);
    const failedAttempts = wire.filter((w) => w.failed).length;
    await context.setOffline(false);
    await until('every offline event to be acknowledged', async () => messageIds.every((id) => ack((e) => e.id === id)) && (await idle(tab)));
    // How often each event was acknowledged (a retry after a lost answer would show here as 2).
    const sent = Object.fromEntries(messageIds.map((id) => [id, acked((e) => e.id === id).length]));
    return { anonymousId: await user(tab), messageIds, failedAttempts, sent };
  },

  /** A page closed right after an event: the pagehide flush (sendBeacon) still delivers it. */
  async close() {
    const tab = await open('/plain', pages.plain({ flushAt: 50, flushInterval: 60000 }));
    await tab.evaluate(() => ecrm.track('Product Added', { sku: 'oled-55' }));
    const [event] = await queued(tab);
    const anonymousId = await user(tab);
    await tab.close({ runBeforeUnload: true });
    return { anonymousId, messageId: event.messageId };
  },

  /** After optOut() nothing leaves the browser, on this page or the next, and nothing is stored but the flag. */
  async optout() {
    const init = { annotationTrigger: 'click' };
    const tab = await open('/tv/oled-55', pages.annotated(init));
    await until('the page view', () => ack((e) => e.type === 'page'));
    await until('nothing in flight', () => idle(tab));
    const anonymousId = await user(tab);
    const before = acked().map((e) => e.id);
    await tab.evaluate(() => ecrm.optOut());
    const mark = wire.length;
    await tab.evaluate(() => { ecrm.track('After Opt Out'); ecrm.identify('u-opted-out', { email: 'x@example.com' }); ecrm.page(); });
    await tab.click('#buy');
    await tab.evaluate(() => history.pushState({}, '', '/tv/oled-55/specs'));
    await open('/tv/oled-55/compare', pages.annotated(), tab); // pagehide of the first page, a fresh tracker on the second
    await tab.locator('#details').scrollIntoViewIfNeeded();
    await tab.evaluate(() => { ecrm.track('Still Out'); ecrm.flush(); });
    await tab.click('#buy');
    await tab.goto('about:blank'); // pagehide again: nothing to beacon
    // An absence cannot be awaited: give a leak (flushInterval is 200 ms, beacons go at once) a window to show.
    await new Promise((r) => setTimeout(r, 1000));
    await open('/tv/oled-55/compare', pages.annotated(), tab);
    const stored = await tab.evaluate(() => ({ localStorage: { ...localStorage }, cookie: document.cookie, anonymousId: ecrm.user().anonymousId }));
    return { anonymousId, before, requestsAfterOptOut: wire.length - mark, stored };
  },

  /** ecrm.recommend() renders the real recommender's items; the impressions and the click are tracked. */
  async recommend() {
    const tab = await open('/tv/oled-55/specs', pages.recommend());
    await until('the page view', () => ack((e) => e.type === 'page'));
    const data = await tab.evaluate(() => ecrm.recommend({ slot: 'pdp-specs', n: 2, container: '#recs' }));
    const links = await tab.$$eval('#recs ul.ecrm-recs li a', (as) => as.map((a) => ({ title: a.textContent, href: a.getAttribute('href') })));
    await tab.locator('#recs').scrollIntoViewIfNeeded();
    await until('both impressions', () => acked((e) => e.event === 'Recommendation Viewed').length === 2);
    const anonymousId = await user(tab);
    if (!links.length) throw new Error('nothing rendered: ' + JSON.stringify(data));
    await tab.click('#recs a >> nth=0'); // navigates away: the click leaves by beacon
    await until('the navigation to the item', () => tab.url() === new URL(links[0].href, site).href);
    return { anonymousId, data, links };
  },

  /**
   * The collector's HttpOnly cookie (Collector:IdentityCookieName) with useServerCookie: a first visit's
   * cookie takes the tracker's id; after the script's storage is wiped (Safari's 7-day cap on script
   * storage) the tracker takes the id back from the collector's answer.
   */
  async serverid() {
    const init = { useServerCookie: true, annotationTrigger: 'click' };
    const tab = await open('/tv/oled-55', pages.annotated(init));
    const firstPage = await until('the page view', () => ack((e) => e.type === 'page'));
    const first = await user(tab);
    const serverCookie = await until('the collector cookie', async () => (await context.cookies(cfg.collector)).find((c) => c.name === 'ecrm_sid'));
    // Script storage wiped, the HttpOnly cookie kept.
    await tab.evaluate(() => localStorage.clear());
    await context.clearCookies({ name: 'ecrm_aid' });
    await open('/tv/oled-55/compare', pages.annotated(init), tab);
    // The page view goes out with a new script id (read from the wire: the answer may be in already).
    const fresh = (await until('the second page view', () => ack((e) => e.type === 'page' && e.id !== firstPage.id))).anonymousId;
    const adopted = await until('the collector id to be adopted', () => tab.evaluate((id) => ecrm.user().anonymousId !== id && ecrm.user().anonymousId, fresh));
    await tab.evaluate(() => ecrm.track('Product Added', { sku: 'oled-55' }));
    const added = await until('the event after adoption', () => ack((e) => e.event === 'Product Added'));
    const stored = await tab.evaluate(() => ({ aid: localStorage.getItem('ecrm_aid'), cookie: document.cookie }));
    return { first, serverCookie: { value: serverCookie.value, httpOnly: serverCookie.httpOnly }, fresh, adopted, added, stored };
  },
};

let code = 0;
try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(', ')}`);
  const result = await scenarios[scenario]();
  console.log('RESULT ' + JSON.stringify({ ...result, wire }));
  if (cfg.done) await until('the test to finish', () => existsSync(cfg.done), 120000).catch(() => {});
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  code = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
