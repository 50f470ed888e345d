// Real-browser tests: Debian chromium driven by playwright-core, loading dist/ecrm.min.js with a plain
// <script src> and asserting on what the test collector (test/server.mjs) received.
// Pages are served from http://www.ecrm.test:PORT and the collector is http://c.ecrm.test:PORT
// (same site, cross origin: CORS preflights and beacons are exercised as on a real site).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from '../server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
let browser, srv, ctx, WWW, HOST;
const demo = readFileSync(new URL('../pages/demo.html', import.meta.url), 'utf8');
/** A page without annotations, for delivery tests that count events. */
const plain = '<!doctype html><html><head><title>Plain</title><script src="/assets/e.js"></script><script>ecrm.init(__CONFIG__)</script></head><body><p>plain</p></body></html>';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const posts = () => srv.requests.filter((r) => r.method !== 'GET');
const ids = (events) => events.map((e) => e.messageId);

before(async () => {
  srv = await startServer();
  WWW = `http://www.ecrm.test:${srv.port}`;
  HOST = `http://c.ecrm.test:${srv.port}`;
  // Playwright gives every launch its own fresh temporary --user-data-dir (it refuses the flag itself).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-proxy-server', '--host-resolver-rules=MAP *.ecrm.test 127.0.0.1',
    ],
  });
});
after(async () => {
  await browser?.close();
  await srv?.close();
});
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
  await sleep(200); // let beacons from closed pages land before the next test starts
  srv.reset();
});

/** Open the demo page (or custom html) in a fresh browser context with the given init options. */
async function open(cfg = {}, { path, html, query = '?utm_source=newsletter&utm_campaign=oled', init } = {}) {
  path ??= html === plain ? '/plain.html' : '/demo.html';
  const config = { writeKey: 'wk_test', host: HOST, flushAt: 1, ...cfg };
  srv.page(path, (html ?? demo).replace('__CONFIG__', JSON.stringify(config)));
  ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  if (init) await ctx.addInitScript(init);
  const page = await ctx.newPage();
  await page.goto(WWW + path + query);
  return page;
}

describe('chromium: loading and page views', () => {
  it('a plain <script src> defines window.ecrm at once and a page event reaches the collector', async () => {
    const page = await open();
    const [e] = await srv.until(() => srv.find('page').length && srv.find('page'), 5000, 'page event');
    assert.equal(await page.evaluate(() => typeof window.ecrm.track), 'function');
    assert.equal(e.channel, 'web');
    assert.match(e.messageId, /^[0-9a-f-]{36}$/);
    assert.equal(e.properties.path, '/demo.html');
    assert.equal(e.properties.title, 'OLED 55 - Ecrm demo');
    assert.equal(e.context.page.url, WWW + '/demo.html?utm_source=newsletter&utm_campaign=oled');
    assert.deepEqual(e.context.campaign, { source: 'newsletter', name: 'oled' });
    assert.deepEqual(e.context.ecrm, { topic: 'tv-oled-55', stage: 1 });
    assert.equal(e.context.library.name, 'ecrm-js');
    assert.match(e.context.userAgent, /Chrome/);
    const b = srv.batches[0];
    assert.equal(b.headers.authorization, 'Basic ' + Buffer.from('wk_test:').toString('base64'));
    assert.equal(b.headers.origin, WWW);
    // cookie + localStorage hold the same anonymous id
    const ids = await page.evaluate(() => [document.cookie, localStorage.getItem('ecrm_aid')]);
    assert.equal(ids[1], e.anonymousId);
    assert.ok(ids[0].includes('ecrm_aid=' + e.anonymousId));
  });

  it('single-page-app history changes send page views', async () => {
    const page = await open();
    await srv.until(() => srv.find('page').length === 1);
    await page.click('#spa-link');
    await srv.until(() => srv.find('page').length === 2, 5000, 'pushState page view');
    await page.goBack(); // popstate
    const p = await srv.until(() => srv.find('page').length === 3 && srv.find('page'), 5000, 'popstate page view');
    assert.equal(p[1].properties.path, '/demo/specs');
    assert.equal(p[1].properties.title, 'Specs - Ecrm demo');
    assert.equal(p[1].properties.referrer, WWW + '/demo.html?utm_source=newsletter&utm_campaign=oled');
    assert.equal(p[2].properties.path, '/demo.html');
    assert.equal(p[2].properties.referrer, WWW + '/demo/specs');
  });

  it('the anonymous id cookie is shared across subdomains with cookieDomain', async () => {
    const page = await open({ cookieDomain: 'ecrm.test' });
    const [a] = await srv.until(() => srv.find('page').length && srv.find('page'));
    await page.goto(`http://shop.ecrm.test:${srv.port}/demo.html`);
    // The first page may still flush more page events (its own route changes); wait for the one from the other subdomain.
    const p = await srv.until(() => srv.find('page').find((e) => (e.context?.page?.url || '').includes('shop.ecrm.test')));
    assert.equal(p.anonymousId, a.anonymousId);
  });

  it('useServerCookie sends requests with credentials so the collector HttpOnly cookie is used', async () => {
    srv.serverCookie = 'ecrm_sid=srv-123; Path=/; HttpOnly; SameSite=Lax; Domain=ecrm.test';
    let page = await open({ useServerCookie: true }, { html: plain });
    await srv.until(() => srv.find('page').length === 1);
    await page.evaluate(() => ecrm.track('Second'));
    await srv.until(() => srv.batches.length === 2);
    assert.match(srv.batches[1].cookie, /ecrm_sid=srv-123/);
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('ecrm_sid'), 'HttpOnly cookie hidden from JS');
    await ctx.close();
    srv.reset();
    srv.serverCookie = 'ecrm_sid=srv-123; Path=/; HttpOnly; SameSite=Lax; Domain=ecrm.test';
    page = await open({ useServerCookie: false }, { html: plain });
    await srv.until(() => srv.find('page').length === 1);
    await page.evaluate(() => ecrm.track('Second'));
    await srv.until(() => srv.batches.length === 2);
    assert.ok(!srv.batches[1].cookie.includes('ecrm_sid'), 'no credentials without useServerCookie');
  });
});

describe('chromium: delivery', () => {
  it('batches by count and by time', async () => {
    const page = await open({ autoPage: false, flushAt: 3, flushInterval: 1500 }, { html: plain });
    await page.evaluate(() => ['A', 'B', 'C', 'D'].forEach((e) => ecrm.track(e)));
    await srv.until(() => srv.batches.length === 1, 3000, 'count batch');
    const t = Date.now();
    assert.deepEqual(srv.batches[0].body.batch.map((e) => e.event), ['A', 'B', 'C']);
    await sleep(500);
    assert.equal(srv.batches.length, 1, 'D waits for the interval');
    await srv.until(() => srv.batches.length === 2, 3000, 'time batch');
    assert.ok(Date.now() - t > 700);
    assert.deepEqual(srv.batches[1].body.batch.map((e) => e.event), ['D']);
  });

  it('flushes on pagehide with sendBeacon (text/plain, writeKey in body)', async () => {
    const page = await open({ autoPage: false, flushAt: 50, flushInterval: 60000 }, { html: plain });
    await page.evaluate(() => ecrm.track('Leaving', { n: 1 }));
    await page.goto('about:blank');
    await srv.until(() => srv.batches.length === 1, 5000, 'beacon');
    const b = srv.batches[0];
    assert.match(b.contentType, /^text\/plain/);
    assert.equal(b.body.writeKey, 'wk_test');
    assert.equal(b.headers.authorization, undefined);
    assert.deepEqual(b.body.batch.map((e) => e.event), ['Leaving']);
    assert.equal(srv.requests.filter((r) => r.method === 'OPTIONS').length, 0, 'no preflight for the beacon');
  });

  it('a page closed right after an event still delivers it', async () => {
    const page = await open({ autoPage: false, flushAt: 50, flushInterval: 60000 }, { html: plain });
    await page.evaluate(() => ecrm.track('Closing'));
    await page.close({ runBeforeUnload: true });
    await srv.until(() => srv.find('track', 'Closing').length === 1, 5000, 'event from closed page');
  });

  it('retries after a 503 with the same messageIds', async () => {
    srv.failNext(503);
    const page = await open({ autoPage: false, flushAt: 2 }, { html: plain });
    await page.evaluate(() => { ecrm.track('R1'); ecrm.track('R2'); });
    await srv.until(() => srv.batches.length === 1, 5000, 'retry');
    const attempts = srv.requests.filter((r) => r.path === '/v1/batch' && r.method === 'POST');
    assert.deepEqual(attempts.map((r) => r.status), [503, 200]);
    assert.deepEqual(ids(JSON.parse(attempts[1].raw).batch), ids(JSON.parse(attempts[0].raw).batch));
    assert.equal(await page.evaluate(() => localStorage.getItem('ecrm_q')), null);
  });

  it('drops a batch rejected with 4xx', async () => {
    srv.failNext(422);
    const page = await open({ autoPage: false }, { html: plain });
    await page.evaluate(() => ecrm.track('Rejected'));
    await srv.until(() => srv.requests.some((r) => r.status === 422));
    await sleep(1500);
    assert.equal(srv.requests.filter((r) => r.path === '/v1/batch' && r.method === 'POST').length, 1);
    assert.equal(await page.evaluate(() => localStorage.getItem('ecrm_q')), null);
  });

  it('events made offline arrive exactly once when the network returns', async () => {
    const page = await open({ autoPage: false }, { html: plain });
    await ctx.setOffline(true);
    await page.evaluate(() => ['O1', 'O2', 'O3'].forEach((e) => ecrm.track(e)));
    await sleep(1500); // at least one failed attempt and a backoff
    assert.equal(srv.batches.length, 0);
    assert.equal(JSON.parse(await page.evaluate(() => localStorage.getItem('ecrm_q'))).length, 3);
    await ctx.setOffline(false);
    await srv.until(() => srv.events().length >= 3, 8000, 'events after reconnect');
    await sleep(1000);
    const got = srv.unique().map((e) => e.event).sort();
    assert.deepEqual(got, ['O1', 'O2', 'O3']);
    assert.equal(srv.events().length, 3, 'no event sent twice');
  });

  it('events queued offline survive closing the page and are sent by the next page view', async () => {
    let page = await open({ autoPage: false, flushAt: 50, flushInterval: 60000 }, { html: plain });
    await ctx.setOffline(true);
    await page.evaluate(() => ecrm.track('Offline Close'));
    const [queued] = JSON.parse(await page.evaluate(() => localStorage.getItem('ecrm_q')));
    const closed = page.waitForEvent('close');
    await page.close({ runBeforeUnload: true }); // does not wait for the page to go
    await closed;
    await ctx.setOffline(false);
    page = await ctx.newPage();
    await page.goto(WWW + '/plain.html');
    await srv.until(() => srv.find('track', 'Offline Close').length, 5000, 'queued event after reload');
    await sleep(500);
    // Exactly once after the collector's messageId dedupe. (A request cut off by the close may
    // have reached the collector too; it carries the same messageId.)
    assert.deepEqual(srv.unique().map((e) => e.messageId), [queued.messageId]);
    assert.equal(await page.evaluate(() => localStorage.getItem('ecrm_q')), null);
  });
});

describe('chromium: stage annotations', () => {
  it('tracks annotated sections once per page view on view, and clicks on click triggers', async () => {
    const page = await open();
    const viewed = () => srv.find('track', 'Element Viewed');
    await srv.until(() => viewed().length === 1, 5000, 'intro viewed');
    await sleep(400);
    assert.deepEqual(viewed().map((e) => e.properties.elementId), ['intro']);
    const v = viewed()[0];
    assert.deepEqual(v.context.ecrm, { topic: 'tv-oled-55', stage: 1 });
    assert.equal(v.properties.topic, 'tv-oled-55');
    assert.equal(v.properties.stage, 1);
    assert.equal(v.properties.text, 'OLED 55 Introduction: perfect blacks, thin panel.');

    await page.locator('#details').scrollIntoViewIfNeeded();
    await srv.until(() => viewed().length === 2, 5000, 'details viewed');
    assert.deepEqual(viewed()[1].context.ecrm, { topic: 'tv-oled-55', stage: 2 });
    await page.evaluate(() => scrollTo(0, 0));
    await sleep(300);
    await page.locator('#details').scrollIntoViewIfNeeded();
    await page.locator('#buy').scrollIntoViewIfNeeded();
    await srv.until(() => viewed().length === 3, 5000, 'offer viewed');
    await sleep(300);
    assert.deepEqual(viewed().map((e) => e.properties.elementId), ['intro', 'details', 'offer']);
    assert.deepEqual(viewed()[2].context.ecrm, { topic: 'tv-oled-55', stage: 'purchase' });

    await page.click('#buy');
    const [c] = await srv.until(() => srv.find('track', 'Element Clicked').length && srv.find('track', 'Element Clicked'));
    assert.deepEqual(c.context.ecrm, { topic: 'tv-oled-55', stage: 3 });
    assert.deepEqual(c.properties, { topic: 'tv-oled-55', stage: 3, elementId: 'buy', text: 'Buy now' });
    assert.equal(viewed().filter((e) => e.properties.elementId === 'buy').length, 0, 'click-only element is not tracked on view');
  });

  it('the global annotationTrigger applies to elements without data-ecrm-trigger', async () => {
    const page = await open({ annotationTrigger: 'click', autoPage: false });
    await page.click('#intro h1');
    const [c] = await srv.until(() => srv.find('track', 'Element Clicked').length && srv.find('track', 'Element Clicked'));
    assert.equal(c.properties.elementId, 'intro');
    await sleep(500);
    assert.equal(srv.find('track', 'Element Viewed').length, 0);
  });
});

describe('chromium: consent', () => {
  it('an opted-out visitor sends nothing and stores nothing beyond the opt-out flag', async () => {
    let page = await open({ flushAt: 20, flushInterval: 300 });
    await page.evaluate(() => ecrm.optOut());
    await page.evaluate(() => ecrm.track('After Opt Out'));
    await sleep(200);
    srv.reset();
    await page.click('#buy');
    await page.reload();
    await page.evaluate(() => { ecrm.track('Still Out'); ecrm.identify('u-1'); });
    await page.locator('#details').scrollIntoViewIfNeeded();
    await page.goto('about:blank'); // pagehide: nothing to beacon
    page = await ctx.newPage();
    await page.goto(WWW + '/demo.html');
    await sleep(800);
    assert.deepEqual(posts(), [], 'no POST or preflight reached the collector');
    const stored = await page.evaluate(() => ({ ls: { ...localStorage }, cookie: document.cookie }));
    assert.deepEqual(stored, { ls: { ecrm_consent: '0' }, cookie: '' });
    assert.equal(srv.find('track', 'After Opt Out').length, 0);
  });

  it('Do Not Track is honoured when respectDoNotTrack is set', async () => {
    const dnt = () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' });
    const page = await open({ respectDoNotTrack: true }, { init: dnt });
    assert.equal(await page.evaluate(() => navigator.doNotTrack), '1');
    await page.evaluate(() => ecrm.track('Nope'));
    await page.click('#buy');
    await sleep(800);
    assert.deepEqual(posts(), []);
    assert.deepEqual(await page.evaluate(() => ({ ...localStorage })), {});
    await ctx.close();
    // the same visitor on a site that does not opt into DNT is tracked
    await open({}, { init: dnt });
    await srv.until(() => srv.find('page').length === 1);
  });
});

describe('chromium: recommendations', () => {
  it('recommend() renders items, tracks impressions on view and the click', async () => {
    const page = await open({ autoPage: false, flushAt: 5, flushInterval: 500 });
    const data = await page.evaluate(() => ecrm.recommend({ slot: 'pdp-bottom', n: 3, container: '#recs' }));
    assert.equal(data.recommendationId, 'rec_1');
    const req = srv.requests.find((r) => r.path === '/v1/recommendations' && r.method === 'POST');
    assert.equal(req.headers.authorization, 'Basic ' + Buffer.from('wk_test:').toString('base64'));
    assert.equal(req.body.slot, 'pdp-bottom');
    assert.equal(req.body.n, 3);
    assert.match(req.body.anonymousId, /^[0-9a-f-]{36}$/);
    assert.equal(req.body.context.page.path, '/demo.html');
    assert.deepEqual(await page.$$eval('#recs a', (as) => as.map((a) => [a.textContent, a.getAttribute('href')])), [
      ['OLED 55 details', WWW + '/tv/oled-55/details'],
      ['OLED 55 offer', WWW + '/tv/oled-55/offer'],
      ['Evil', ''],
    ]);
    await sleep(600);
    assert.equal(srv.find('track', 'Recommendation Viewed').length, 0, 'not viewed while below the fold');
    await page.locator('#recs').scrollIntoViewIfNeeded();
    const v = await srv.until(() => srv.find('track', 'Recommendation Viewed').length === 3 && srv.find('track', 'Recommendation Viewed'), 5000, 'impressions');
    assert.deepEqual(v.map((e) => e.properties).sort((a, b) => a.position - b.position), [
      { recommendationId: 'rec_1', itemId: 'i1', position: 1, slot: 'pdp-bottom' },
      { recommendationId: 'rec_1', itemId: 'i2', position: 2, slot: 'pdp-bottom' },
      { recommendationId: 'rec_1', itemId: 'i3', position: 3, slot: 'pdp-bottom' },
    ]);
    await page.click('#recs a >> nth=0'); // navigates away: the click goes out by beacon
    const [c] = await srv.until(() => srv.find('track', 'Recommendation Clicked').length && srv.find('track', 'Recommendation Clicked'), 5000, 'click');
    assert.deepEqual(c.properties, { recommendationId: 'rec_1', itemId: 'i1', position: 1, slot: 'pdp-bottom' });
    await srv.until(() => page.url().endsWith('/tv/oled-55/details'));
  });
});
