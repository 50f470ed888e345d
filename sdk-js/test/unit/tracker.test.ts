import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-ignore plain JS test server
import { startServer } from '../server.mjs';
import { makeWindow, sleep, version, type Win } from './harness';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let srv: any;
let wins: Win[] = [];
const open = async (o: Parameters<typeof makeWindow>[0] = {}) => {
  const w = await makeWindow(o);
  wins.push(w);
  return w;
};
const cfg = (extra: Record<string, unknown> = {}) => ({ writeKey: 'wk_test', host: srv.url, flushAt: 1, ...extra });

beforeAll(async () => {
  srv = await startServer();
});
afterAll(() => srv.close());
afterEach(() => {
  wins.forEach((w) => w.close());
  wins = [];
  srv.reset();
});

describe('events', () => {
  it('sends a Segment-shaped page event on init', async () => {
    const w = await open();
    w.ecrm.init(cfg());
    await srv.until(() => srv.batches.length, 3000, 'page batch');
    const b = srv.batches[0];
    expect(b.headers.authorization).toBe('Basic ' + Buffer.from('wk_test:').toString('base64'));
    expect(b.contentType).toBe('application/json');
    expect(new Date(b.body.sentAt).toISOString()).toBe(b.body.sentAt);
    const [e] = b.body.batch;
    expect(e.messageId).toMatch(UUID);
    expect(e).toMatchObject({ type: 'page', channel: 'web' });
    expect(e.anonymousId).toMatch(UUID);
    expect(e.userId).toBeUndefined();
    expect(Math.abs(Date.parse(e.originalTimestamp) - Date.now())).toBeLessThan(5000);
    const page = {
      url: 'http://shop.example.com/tv/oled?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=tv&utm_content=a',
      path: '/tv/oled',
      referrer: 'https://search.example.org/?q=tv',
      title: 'Test page',
      search: '?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=tv&utm_content=a',
    };
    expect(e.properties).toEqual(page);
    expect(e.context.page).toEqual(page);
    expect(e.context.campaign).toEqual({ source: 'news', medium: 'email', name: 'spring', term: 'tv', content: 'a' });
    expect(e.context.library).toEqual({ name: 'ecrm-js', version });
    expect(e.context.userAgent).toContain('jsdom');
    expect(e.context.locale).toBeTruthy();
    // the anonymous id is persisted in a first-party cookie and localStorage
    expect(w.window.document.cookie).toContain('ecrm_aid=' + e.anonymousId);
    expect(w.storage().ecrm_aid).toBe(e.anonymousId);
  });

  it('track, identify, alias, group and reset carry the right ids', async () => {
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false }));
    w.ecrm.track('Signed Up', { plan: 'pro' });
    w.ecrm.identify('u-42', { email: 'a@b.c' });
    w.ecrm.track('After Login');
    w.ecrm.alias('u-43');
    w.ecrm.group('g-1', { name: 'Acme' });
    w.ecrm.reset();
    w.ecrm.track('After Reset');
    const ev = await srv.until(() => srv.events().length >= 6 && srv.events(), 4000, '6 events');
    const [t, id, t2, al, gr, t3] = ev;
    const anon = t.anonymousId;
    expect(t).toMatchObject({ type: 'track', event: 'Signed Up', properties: { plan: 'pro' } });
    expect(t.userId).toBeUndefined();
    expect(id).toMatchObject({ type: 'identify', userId: 'u-42', anonymousId: anon, traits: { email: 'a@b.c' } });
    expect(t2).toMatchObject({ userId: 'u-42', anonymousId: anon });
    expect(al).toMatchObject({ type: 'alias', userId: 'u-43', previousId: 'u-42' });
    expect(gr).toMatchObject({ type: 'group', groupId: 'g-1', traits: { name: 'Acme' } });
    expect(t3.userId).toBeUndefined();
    expect(t3.anonymousId).toMatch(UUID);
    expect(t3.anonymousId).not.toBe(anon);
    expect(new Set(ev.map((e: any) => e.messageId)).size).toBe(6);
  });

  it("identify's userHash rides with the user id on events and recommendations, and goes with it", async () => {
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false }));
    w.ecrm.track('Before Login');
    w.ecrm.identify('u-7', { name: 'Kim' }, { userHash: 'ab12' });
    w.ecrm.track('After Login');
    w.ecrm.identify('u-7', { plan: 'pro' });
    w.ecrm.identify('u-8');
    w.ecrm.track('Other User');
    const ev = await srv.until(() => srv.events().length >= 6 && srv.events(), 4000, '6 events');
    expect(ev.map((e: any) => e.context.userHash)).toEqual([undefined, 'ab12', 'ab12', 'ab12', undefined, undefined]);
    w.ecrm.identify('u-8', {}, { userHash: 'cd34' });
    await w.ecrm.recommend({ slot: 'home' }).catch(() => null);
    const req = srv.requests.find((r: any) => r.path === '/v1/recommendations');
    expect(req.body).toMatchObject({ userId: 'u-8', userHash: 'cd34' });
    w.ecrm.reset();
    w.ecrm.track('After Reset');
    const [last] = await srv.until(() => srv.find('track', 'After Reset').length && srv.find('track', 'After Reset'));
    expect(last.context.userHash).toBeUndefined();
  });

  it('queues calls made before init and replays the async snippet stub', async () => {
    // the async snippet from README.md, verbatim
    const stub = `!function(w){var e=w.ecrm=w.ecrm||[];if(!e.init){"init page track identify alias group reset optOut optIn recommend flush".split(" ").forEach(function(m){e[m]=function(){e.push([m].concat([].slice.call(arguments)))}})}}(window);
      ecrm.track('Before Load',{a:1});
      ecrm.init(${JSON.stringify(cfg({ flushAt: 3 }))});`;
    const w = await open({ before: stub });
    w.ecrm.identify('u-1');
    const ev = await srv.until(() => srv.events().length >= 3 && srv.events(), 3000, 'stub events');
    expect(ev.map((e: any) => e.type + ':' + (e.event ?? ''))).toEqual(['page:', 'track:Before Load', 'identify:']);
  });

  it('page() and SPA history changes send page views with the previous url as referrer', async () => {
    const w = await open({ url: 'http://shop.example.com/a' });
    w.ecrm.init(cfg());
    await srv.until(() => srv.find('page').length === 1);
    w.window.history.pushState({}, '', '/b?x=1');
    await srv.until(() => srv.find('page').length === 2, 3000, 'pushState page');
    w.window.history.replaceState({}, '', '/b?x=1#hash'); // same path+query: not a new page view
    w.ecrm.page('Custom', { section: 's' });
    const p = await srv.until(() => srv.find('page').length === 3 && srv.find('page'), 3000, 'manual page');
    expect(p[1].properties).toMatchObject({ path: '/b', search: '?x=1', referrer: 'http://shop.example.com/a' });
    expect(p[2]).toMatchObject({ name: 'Custom', properties: { name: 'Custom', section: 's', path: '/b' } });
  });
});

describe('batching and delivery', () => {
  it('batches by count', async () => {
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false, flushAt: 3, flushInterval: 60000 }));
    w.ecrm.track('E0');
    w.ecrm.track('E1');
    await sleep(200);
    expect(srv.requests.length).toBe(0);
    // the 3rd event triggers a send at once; events queued while it is in flight go in the next batch
    for (let i = 2; i < 7; i++) w.ecrm.track('E' + i);
    await srv.until(() => srv.batches.length === 2);
    await sleep(200);
    expect(srv.batches.map((b: any) => b.body.batch.map((e: any) => e.event))).toEqual([
      ['E0', 'E1', 'E2'],
      ['E3', 'E4', 'E5', 'E6'],
    ]);
  });

  it('batches by time', async () => {
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false, flushAt: 100, flushInterval: 300 }));
    const t0 = Date.now();
    w.ecrm.track('A');
    w.ecrm.track('B');
    await sleep(150);
    expect(srv.batches.length).toBe(0);
    await srv.until(() => srv.batches.length === 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(srv.batches[0].body.batch.map((e: any) => e.event)).toEqual(['A', 'B']);
  });

  it('retries a 503 with the same messageIds', async () => {
    const w = await open();
    srv.failNext(503);
    w.ecrm.init(cfg({ autoPage: false, flushAt: 2 }));
    w.ecrm.track('A');
    w.ecrm.track('B');
    await srv.until(() => srv.batches.length === 1, 4000, 'retry');
    const attempts = srv.requests.filter((r: any) => r.path === '/v1/batch');
    expect(attempts.map((r: any) => r.status)).toEqual([503, 200]);
    const ids = (r: any) => JSON.parse(r.raw).batch.map((e: any) => e.messageId);
    expect(ids(attempts[1])).toEqual(ids(attempts[0]));
    // The server has the batch before the tracker has read the 200 and emptied its stored queue.
    await srv.until(() => w.storage().ecrm_q === undefined, 2000, 'the stored queue emptied');
    expect(w.storage().ecrm_q).toBeUndefined();
  });

  it('backs off exponentially with jitter between retries, keeping the messageIds', async () => {
    const w = await open();
    w.window.Math.random = () => 0; // the jitter's low end: each wait is half of 1 s, 2 s, 4 s
    srv.failNext(503, 3);
    w.ecrm.init(cfg({ autoPage: false }));
    w.ecrm.track('Backoff');
    await srv.until(() => srv.batches.length === 1, 8000, 'the fourth attempt');
    const attempts = srv.requests.filter((r: any) => r.path === '/v1/batch');
    expect(attempts.map((r: any) => r.status)).toEqual([503, 503, 503, 200]);
    const gaps = attempts.slice(1).map((r: any, i: number) => r.at - attempts[i].at);
    [500, 1000, 2000].forEach((ms, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(ms - 20);
      expect(gaps[i]).toBeLessThan(ms + 450);
    });
    expect(new Set(attempts.map((r: any) => JSON.parse(r.raw).batch[0].messageId)).size).toBe(1);
  }, 15000);

  it('drops a batch the collector rejects with 4xx and does not retry it', async () => {
    const w = await open();
    srv.failNext(400);
    w.ecrm.init(cfg({ autoPage: false }));
    w.ecrm.track('Bad');
    await srv.until(() => srv.requests.some((r: any) => r.status === 400));
    await sleep(1500);
    w.ecrm.track('Good');
    await srv.until(() => srv.batches.length === 1);
    expect(srv.requests.filter((r: any) => r.path === '/v1/batch').length).toBe(2);
    expect(srv.events().map((e: any) => e.event)).toEqual(['Good']);
  });

  it('keeps unsent events in localStorage across a reload', async () => {
    srv.failNext(503, 50);
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false }));
    w.ecrm.track('Offline 1');
    w.ecrm.track('Offline 2');
    await srv.until(() => srv.requests.length >= 1);
    const saved = w.storage();
    const queued = JSON.parse(saved.ecrm_q);
    expect(queued.map((e: any) => e.event)).toEqual(['Offline 1', 'Offline 2']);
    w.close();
    srv.failures.length = 0;
    const w2 = await open({ storage: saved });
    w2.ecrm.init(cfg({ autoPage: false }));
    await srv.until(() => srv.events().length === 2, 3000, 'replayed queue');
    expect(srv.events().map((e: any) => e.messageId)).toEqual(queued.map((e: any) => e.messageId));
    await srv.until(() => w2.storage().ecrm_q === undefined, 2000, 'the stored queue emptied');
    expect(w2.storage().ecrm_q).toBeUndefined();
  });

  it('bounds the offline queue, drops the oldest and reports the drop count', async () => {
    srv.failNext(503, 1);
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false, maxQueueSize: 5, flushAt: 100, flushInterval: 100 }));
    w.ecrm.track('E0');
    await srv.until(() => srv.requests.some((r: any) => r.status === 503));
    for (let i = 1; i < 8; i++) w.ecrm.track('E' + i);
    expect(JSON.parse(w.storage().ecrm_q).map((e: any) => e.event)).toEqual(['E3', 'E4', 'E5', 'E6', 'E7']);
    expect(w.storage().ecrm_drop).toBe('3');
    await srv.until(() => srv.find('track', 'Events Dropped').length === 1, 4000, 'drop report');
    expect(srv.find('track', 'Events Dropped')[0].properties).toEqual({ count: 3 });
    expect(srv.events().map((e: any) => e.event).slice(0, 5)).toEqual(['E3', 'E4', 'E5', 'E6', 'E7']);
  });

  it('flushes on pagehide with fetch keepalive (no sendBeacon), writeKey in a text/plain body', async () => {
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false, flushAt: 100, flushInterval: 60000 }));
    w.ecrm.track('Leaving');
    w.window.dispatchEvent(new w.window.Event('pagehide'));
    await srv.until(() => srv.batches.length === 1);
    const b = srv.batches[0];
    expect(b.contentType).toContain('text/plain');
    expect(b.headers.authorization).toBeUndefined();
    expect(b.body.writeKey).toBe('wk_test');
    expect(b.body.batch.map((e: any) => e.event)).toEqual(['Leaving']);
    await srv.until(() => w.storage().ecrm_q === undefined, 2000, 'the stored queue emptied');
    expect(w.storage().ecrm_q).toBeUndefined();
  });

  it('splits the unload flush to stay within the 64 KB beacon budget', async () => {
    const w = await open({ beacon: true });
    w.ecrm.init(cfg({ autoPage: false, flushAt: 1000, flushInterval: 60000 }));
    const big = 'x'.repeat(9000);
    for (let i = 0; i < 12; i++) w.ecrm.track('Big ' + i, { big }); // ~110 KB in all
    w.window.dispatchEvent(new w.window.Event('pagehide'));
    await srv.until(() => srv.batches.length >= 1);
    await sleep(300);
    const sizes = srv.batches.map((b: any) => b.size);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(60000);
    expect(sizes.reduce((a: number, b: number) => a + b, 0)).toBeLessThanOrEqual(64 * 1024);
    const sent = srv.events().map((e: any) => e.event);
    const left = JSON.parse(w.storage().ecrm_q).map((e: any) => e.event);
    expect([...sent, ...left]).toEqual(Array.from({ length: 12 }, (_, i) => 'Big ' + i));
    expect(left.length).toBeGreaterThan(0);
  });
});

describe('server-set id (useServerCookie)', () => {
  it("adopts the collector's cookie id, also for queued events, and not again after reset()", async () => {
    srv.browserId = 'srv-1';
    const w = await open();
    w.ecrm.init(cfg({ useServerCookie: true }));
    w.ecrm.track('Queued'); // waits behind the page event's request, queued with the script's own id
    const [page] = await srv.until(() => srv.find('page').length && srv.find('page'));
    expect(page.anonymousId).toMatch(UUID);
    const [queued] = await srv.until(() => srv.find('track', 'Queued').length && srv.find('track', 'Queued'));
    expect(queued.anonymousId).toBe('srv-1');
    expect(w.ecrm.user().anonymousId).toBe('srv-1');
    expect(w.storage().ecrm_aid).toBe('srv-1');
    expect(w.window.document.cookie).toContain('ecrm_aid=srv-1');

    w.ecrm.reset();
    const fresh = w.ecrm.user().anonymousId;
    expect(fresh).toMatch(UUID);
    w.ecrm.track('R1');
    await srv.until(() => srv.find('track', 'R1').length);
    w.ecrm.track('R2');
    const [r2] = await srv.until(() => srv.find('track', 'R2').length && srv.find('track', 'R2'));
    expect(r2.anonymousId).toBe(fresh);
  });

  it('keeps its own id without useServerCookie', async () => {
    srv.browserId = 'srv-2';
    const w = await open();
    w.ecrm.init(cfg());
    w.ecrm.track('A');
    const [a] = await srv.until(() => srv.find('track', 'A').length && srv.find('track', 'A'));
    expect(a.anonymousId).toMatch(UUID);
    w.ecrm.track('B');
    const [b] = await srv.until(() => srv.find('track', 'B').length && srv.find('track', 'B'));
    expect(b.anonymousId).toBe(a.anonymousId);
  });
});

describe('consent', () => {
  it('opt-out sends nothing and stores nothing but the flag', async () => {
    const w = await open();
    w.ecrm.init(cfg({ autoPage: false, flushAt: 10, flushInterval: 200 }));
    w.ecrm.track('Queued');
    w.ecrm.optOut();
    w.ecrm.track('After');
    w.ecrm.identify('u-1');
    w.window.dispatchEvent(new w.window.Event('pagehide'));
    await sleep(500);
    expect(srv.requests.length).toBe(0);
    expect(w.storage()).toEqual({ ecrm_consent: '0' });
    expect(w.window.document.cookie).not.toContain('ecrm_aid');
    expect(w.ecrm.user()).toEqual({ anonymousId: null, userId: null });
    // the flag survives a reload
    const w2 = await open({ storage: w.storage() });
    w2.ecrm.init(cfg());
    await sleep(300);
    expect(srv.requests.length).toBe(0);
    expect(w2.storage()).toEqual({ ecrm_consent: '0' });
  });

  it('default consent denied sends nothing until optIn()', async () => {
    const w = await open();
    w.ecrm.init(cfg({ consent: 'denied' }));
    w.ecrm.track('Nope');
    await sleep(300);
    expect(srv.requests.length).toBe(0);
    expect(w.storage()).toEqual({});
    expect(w.window.document.cookie).toBe('');
    w.ecrm.optIn();
    await srv.until(() => srv.find('page').length === 1, 3000, 'page after optIn');
    expect(w.storage().ecrm_consent).toBe('1');
  });

  it('honours Do Not Track only when respectDoNotTrack is set', async () => {
    const w = await open({ dnt: true });
    w.ecrm.init(cfg({ respectDoNotTrack: true }));
    w.ecrm.track('Nope');
    await sleep(300);
    expect(srv.requests.length).toBe(0);
    expect(w.storage()).toEqual({});
    const w2 = await open({ dnt: true });
    w2.ecrm.init(cfg());
    await srv.until(() => srv.find('page').length === 1);
  });
});

describe('stage annotations (click) and recommendations in jsdom', () => {
  const html = `<!doctype html><html><head><title>OLED</title></head>
    <body data-ecrm-topic="tv-oled-55" data-ecrm-stage="1">
      <section id="spec" data-ecrm-topic="tv-oled-55" data-ecrm-stage="details" data-ecrm-trigger="click">
        <button id="buy">  Buy
          now </button></section>
      <div id="recs"></div></body></html>`;

  it('puts page-level annotations on the page event and tracks annotated clicks', async () => {
    const w = await open({ html });
    w.ecrm.init(cfg());
    await srv.until(() => srv.find('page').length === 1);
    expect(srv.find('page')[0].context.ecrm).toEqual({ topic: 'tv-oled-55', stage: 1 });
    w.window.document.getElementById('buy').click();
    const [c] = await srv.until(() => srv.find('track', 'Element Clicked').length && srv.find('track', 'Element Clicked'));
    expect(c.context.ecrm).toEqual({ topic: 'tv-oled-55', stage: 'details' });
    expect(c.properties).toEqual({ topic: 'tv-oled-55', stage: 'details', elementId: 'spec', text: 'Buy now' });
  });

  it('recommend() posts the ids and page, renders safe links and tracks clicks', async () => {
    const w = await open({ html });
    w.ecrm.init(cfg({ autoPage: false }));
    w.ecrm.identify('u-9');
    const d = await w.ecrm.recommend({ slot: 'pdp', n: 3, container: '#recs' });
    expect(d.recommendationId).toBe('rec_1');
    const req = srv.requests.find((r: any) => r.path === '/v1/recommendations');
    expect(req.headers.authorization).toBe('Basic ' + Buffer.from('wk_test:').toString('base64'));
    // The page's annotation goes along: the recommender counts it as the visitor's latest dialogue.
    expect(req.body).toMatchObject({ userId: 'u-9', slot: 'pdp', n: 3, context: { page: { path: '/tv/oled', title: 'OLED' }, topic: 'tv-oled-55', stage: 1 } });
    expect(req.body.anonymousId).toMatch(UUID);
    const links = [...w.window.document.querySelectorAll('#recs ul.ecrm-recs li a')];
    expect(links.map((a: any) => a.textContent)).toEqual(['OLED 55 details', 'OLED 55 offer', 'Evil']);
    expect(links[0].getAttribute('href')).toBe('http://shop.example.com/tv/oled-55/details');
    expect(links[2].getAttribute('href')).toBe(''); // javascript: URL refused
    links[1].addEventListener('click', (e: any) => e.preventDefault());
    links[1].click();
    const [c] = await srv.until(() => srv.find('track', 'Recommendation Clicked').length && srv.find('track', 'Recommendation Clicked'));
    expect(c.properties).toEqual({ recommendationId: 'rec_1', itemId: 'i2', position: 2, slot: 'pdp' });
  });

  it('recommend() uses a custom renderer, and returns null without a request when opted out', async () => {
    const w = await open({ html });
    w.ecrm.init(cfg({ autoPage: false, recommenderHost: srv.url + '/' }));
    await w.ecrm.recommend({
      slot: 'home',
      container: w.window.document.getElementById('recs'),
      render: (it: any, pos: number) => {
        const b = w.window.document.createElement('button');
        b.textContent = pos + '. ' + it.title;
        return b;
      },
    });
    const buttons = [...w.window.document.querySelectorAll('#recs li > button')];
    expect(buttons.map((b: any) => b.textContent)).toEqual(['1. OLED 55 details', '2. OLED 55 offer', '3. Evil']);
    expect(srv.requests.find((r: any) => r.path === '/v1/recommendations').body.n).toBe(4);
    buttons[2].click();
    const [c] = await srv.until(() => srv.find('track', 'Recommendation Clicked').length && srv.find('track', 'Recommendation Clicked'));
    expect(c.properties).toEqual({ recommendationId: 'rec_1', itemId: 'i3', position: 3, slot: 'home' });
    srv.reset();
    w.ecrm.optOut();
    expect(await w.ecrm.recommend({ slot: 'home', container: '#recs' })).toBeNull();
    await sleep(100);
    expect(srv.requests.length).toBe(0);
  });
});
