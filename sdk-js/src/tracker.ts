import type { Annotation, Ecrm, EcrmEvent, IdentifyOptions, Options, Props, RecommendItem, RecommendOptions, RecommendResponse } from './types';
import { COOKIE, bytes, campaign, dnt, getCookie, href, load, now, setCookie, store, uuid } from './util';

declare const __VERSION__: string;
export const VERSION = __VERSION__;

/** Browsers allow at most 64 KiB of keepalive/beacon payload in flight; stay a little below. */
const BUDGET = 60000;
const TOPIC = 'data-ecrm-topic';
const REC = 'data-ecrm-rec';

type Fn = (...a: any[]) => any;
type RecMeta = { recommendationId: string; itemId: string; position: number; slot: string };

/** Create a tracker instance. The browser build exposes one as `window.ecrm`. */
export function createEcrm(): Ecrm {
  let o: Required<Pick<Options, 'flushAt' | 'flushInterval' | 'maxQueueSize'>> & Options;
  let ready = 0;
  const pre: Fn[] = [];
  let q: EcrmEvent[] = [];
  let aid: string | null = null;
  let uid: string | null = null;
  // The site server's signature of uid (identity verification); without it the collector and the
  // recommender treat the user id as unproved.
  let uh: string | null = null;
  let url = '';
  let lastUrl = '';
  let auth = '';
  let ref = '';
  let timer: any = 0;
  let sending = 0;
  let attempt = 0;
  /** Time until which we back off after a failure (0 = healthy). */
  let wait = 0;
  let dropped = 0;
  let seen = new WeakSet<Element>();
  let io: IntersectionObserver | undefined;
  const recs = new WeakMap<Element, RecMeta>();
  // Read at init, so that importing the ESM build during server-side rendering does not touch the DOM.
  let doc: Document;

  // ---------- consent & ids ----------
  const on = (): boolean => {
    const c = load('consent');
    return c ? c == '1' : !(o.respectDoNotTrack && dnt()) && o.consent != 'denied';
  };

  /** Forget everything except the consent flag. */
  const purge = () => {
    q = [];
    dropped = 0;
    aid = uid = uh = null;
    clearTimeout(timer);
    timer = 0;
    for (const k of ['q', 'drop', 'aid', 'uid', 'uh', 'sx']) store(k);
    setCookie(COOKIE, null, o && o.cookieDomain);
  };

  const saveId = () => {
    store('aid', aid);
    setCookie(COOKIE, aid, o.cookieDomain);
  };

  const ids = () => {
    if (!aid) {
      aid = getCookie(COOKIE) || load('aid') || uuid();
      uid = load('uid');
      uh = load('uh');
      saveId();
    }
  };

  /**
   * The collector names the id of its HttpOnly cookie (useServerCookie): it outlives script storage
   * (Safari caps script cookies at 7 days), so it becomes the anonymousId, also of events still queued.
   * Not the id dropped by reset(): the cookie cannot be cleared from script.
   */
  const adopt = (id?: string) => {
    if (id && id != aid && id != load('sx') && on()) {
      q.forEach((e) => e.anonymousId == aid && (e.anonymousId = id));
      aid = id;
      saveId();
      save();
    }
  };

  // ---------- queue & delivery ----------
  const save = () => {
    const ok = on();
    store('q', ok && q.length ? JSON.stringify(q) : null);
    store('drop', ok && dropped ? '' + dropped : null);
  };

  /** Oldest events whose JSON fits in max bytes (always at least one). */
  const take = (max: number) => {
    const out: EcrmEvent[] = [];
    let n = 60;
    for (const e of q) {
      n += bytes(JSON.stringify(e)) + 1;
      if (out.length && n > max) break;
      out.push(e);
    }
    return out;
  };

  const remove = (sent: EcrmEvent[]) => {
    q = q.filter((e) => !sent.includes(e));
    save();
  };

  const body = (batch: EcrmEvent[], beacon?: 1) =>
    JSON.stringify(beacon ? { batch, sentAt: now(), writeKey: o.writeKey } : { batch, sentAt: now() });

  const init = (): RequestInit => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: auth },
    credentials: o.useServerCookie ? 'include' : 'same-origin',
  });

  const schedule = (ms: number) => {
    if (!timer) timer = setTimeout(flush, ms);
  };

  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (sending || !q.length || Date.now() < wait) return;
    const batch = take(BUDGET);
    sending = 1;
    fetch(url, { ...init(), body: body(batch) })
      .then(async (r) => {
        // 2xx: delivered. 4xx (except 408/429): the batch is bad, retrying cannot help, drop it.
        if (r.status > 499 || r.status == 408 || r.status == 429) throw 0;
        const d = o.useServerCookie && (await r.json().catch(() => 0));
        sending = attempt = wait = 0;
        remove(batch);
        if (d && r.ok) adopt(d.anonymousId);
        if (dropped && on()) {
          const count = dropped;
          dropped = 0;
          track('Events Dropped', { count });
        }
        if (q.length) q.length >= o.flushAt ? flush() : schedule(o.flushInterval);
      })
      .catch(() => {
        // Network error / 5xx: keep the events (same messageIds) and retry with exponential backoff + jitter.
        sending = 0;
        const ms = Math.min(1000 * 2 ** attempt++, 60000) * (0.5 + Math.random() / 2);
        wait = Date.now() + ms;
        clearTimeout(timer);
        timer = setTimeout(() => {
          wait = timer = 0;
          flush();
        }, ms);
      });
  };

  /** Page is being hidden or unloaded: hand the queue to sendBeacon (or fetch keepalive) within the 64 KB budget. */
  const unload = () => {
    if (!ready || !navigator.onLine) return;
    let budget = BUDGET;
    const failing = wait;
    while (q.length) {
      const batch = take(budget);
      const b = body(batch, 1);
      const size = bytes(b);
      if (size > budget) break;
      let ok: boolean | undefined;
      if (navigator.sendBeacon) ok = navigator.sendBeacon(url, new Blob([b], { type: 'text/plain' }));
      else
        try {
          fetch(url, { method: 'POST', body: b, keepalive: true, credentials: init().credentials, headers: { 'Content-Type': 'text/plain' } });
          ok = true;
        } catch {}
      if (!ok) break;
      budget -= size;
      // While the collector is failing, keep the events: the next page load resends them
      // with the same messageIds and the collector dedupes.
      if (failing) break;
      remove(batch);
    }
  };

  const enqueue = (e: EcrmEvent) => {
    q.push(e);
    const over = q.length - o.maxQueueSize;
    if (over > 0) {
      q.splice(0, over);
      dropped += over;
    }
    save();
    q.length >= o.flushAt ? flush() : schedule(o.flushInterval);
  };

  // ---------- events ----------
  const pageCtx = () => ({ url: href(), path: location.pathname, referrer: ref, title: doc.title, search: location.search });

  const ev = (type: EcrmEvent['type'], fields: Partial<EcrmEvent>, ctx?: Props) => {
    if (!on()) return;
    ids();
    enqueue({
      messageId: uuid(),
      type,
      channel: 'web',
      anonymousId: aid!,
      userId: uid || undefined,
      originalTimestamp: now(),
      ...fields,
      context: {
        page: pageCtx(),
        userAgent: navigator.userAgent,
        locale: navigator.language,
        library: { name: 'ecrm-js', version: VERSION },
        campaign: campaign(),
        ...(uid && uh ? { userHash: uh } : {}),
        ...ctx,
      },
    });
  };

  const track = (event: string, properties?: Props, ctx?: Props) => ev('track', { event, properties }, ctx);

  // ---------- stage annotations ----------
  const annotation = (el: Element | null): Annotation | undefined => {
    const topic = el && el.getAttribute(TOPIC);
    if (topic) {
      const s = el!.getAttribute('data-ecrm-stage');
      return { topic, stage: s && /^\d+$/.test(s) ? +s : s || undefined };
    }
  };

  const isPageEl = (el: Element) => el == doc.body || el == doc.documentElement;
  const trigger = (el: Element) => el.getAttribute('data-ecrm-trigger') || o.annotationTrigger || 'view';

  const elementEvent = (what: string, el: Element) => {
    const a = annotation(el)!;
    track(
      'Element ' + what,
      { ...a, elementId: el.id || undefined, text: (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 100) },
      { ecrm: a },
    );
  };

  const watch = (el: Element) => {
    if (io && (el.hasAttribute(REC) || (!isPageEl(el) && el.hasAttribute(TOPIC) && trigger(el).includes('view')))) io.observe(el);
  };

  const scan = (root: Element | Document) => {
    if (root instanceof Element) watch(root);
    root.querySelectorAll(`[${TOPIC}],[${REC}]`).forEach(watch);
  };

  /** A new page view: every element may be viewed once more. */
  const rescan = () => {
    seen = new WeakSet();
    if (io) {
      io.disconnect();
      scan(doc);
    }
  };

  const viewed = (el: Element) => {
    const r = recs.get(el);
    r ? track('Recommendation Viewed', r) : elementEvent('Viewed', el);
  };

  // ---------- page ----------
  const pageAnnotation = () => annotation(doc.body) || annotation(doc.documentElement);

  const page = (name?: string | Props, props?: Props) => {
    if (typeof name == 'object') {
      props = name;
      name = undefined;
    }
    const u = href();
    if (lastUrl && u != lastUrl) ref = lastUrl;
    lastUrl = u;
    rescan();
    const a = pageAnnotation();
    ev('page', { name, properties: { ...pageCtx(), name, ...props } }, a && { ecrm: a });
  };

  // ---------- recommendations ----------
  const safeUrl = (u: string) => {
    try {
      const x = new URL(u, location.href);
      return /^https?:$/.test(x.protocol) ? x.href : '';
    } catch {
      return '';
    }
  };

  const recommend = async ({ slot, n = 4, container, render }: RecommendOptions): Promise<RecommendResponse | null> => {
    if (!on()) return null;
    ids();
    const r = await fetch((o.recommenderHost ?? o.host) + '/v1/recommendations', {
      ...init(),
      // The key, not a cookie, authenticates this call, and the recommender does not accept credentials.
      credentials: 'omit',
      // The page's own topic and stage count as the visitor's latest dialogue.
      body: JSON.stringify({ anonymousId: aid, userId: uid || undefined, userHash: (uid && uh) || undefined, slot, n, context: { page: pageCtx(), ...pageAnnotation() } }),
    });
    if (!r.ok) throw Error('ecrm: recommend ' + r.status);
    const d: RecommendResponse = await r.json();
    const c = typeof container == 'string' ? doc.querySelector(container) : container;
    if (c) {
      const ul = doc.createElement('ul');
      ul.className = 'ecrm-recs';
      d.items.forEach((it: RecommendItem, i) => {
        let el: Element;
        if (render) el = render(it, i + 1);
        else {
          const a = (el = doc.createElement('a')) as HTMLAnchorElement;
          a.href = safeUrl(it.url);
          a.textContent = it.title;
        }
        el.setAttribute(REC, '' + (i + 1));
        recs.set(el, { recommendationId: d.recommendationId, itemId: it.id, position: i + 1, slot });
        ul.appendChild(doc.createElement('li')).appendChild(el);
      });
      c.replaceChildren(ul);
      scan(ul);
    }
    return d;
  };

  // ---------- public API ----------
  /** Before init, calls are queued and replayed by init. */
  const api =
    <F extends Fn>(f: F) =>
    (...a: Parameters<F>) =>
      ready ? f(...a) : new Promise((res) => pre.push(() => res(f(...a))));

  const optOut = () => {
    store('consent', '0');
    purge();
  };

  const optIn = () => {
    const was = ready && on();
    store('consent', '1');
    if (ready && !was) {
      ids();
      if (o.autoPage) page();
    }
  };

  const start = (opts: Options) => {
    if (ready) return;
    if (!opts || !opts.writeKey) throw Error('ecrm: writeKey required');
    doc = document;
    ref = doc.referrer;
    o = { flushAt: 20, flushInterval: 5000, maxQueueSize: 1000, autoPage: true, ...opts };
    o.host = (o.host || '').replace(/\/$/, '');
    if (o.recommenderHost) o.recommenderHost = o.recommenderHost.replace(/\/$/, '');
    url = o.host + '/v1/batch';
    auth = 'Basic ' + btoa(o.writeKey + ':');
    ready = 1;

    if (on()) {
      ids();
      try {
        q = JSON.parse(load('q') || '[]');
      } catch {}
      dropped = +(load('drop') || 0);
      if (q.length) schedule(0);
    } else purge();

    const listen = (t: EventTarget, type: string, f: (e: any) => void) => t.addEventListener(type, f, true);
    listen(doc, 'visibilitychange', () => doc.visibilityState == 'hidden' && unload());
    listen(window, 'pagehide', unload);
    listen(window, 'online', () => {
      attempt = wait = 0;
      flush();
    });
    listen(doc, 'click', (e: Event) => {
      for (let el = e.target as Element | null; el && !isPageEl(el); el = el.parentElement) {
        const r = recs.get(el);
        if (r) return track('Recommendation Clicked', r);
        if (el.hasAttribute(TOPIC) && trigger(el).includes('click')) return elementEvent('Clicked', el);
      }
    });

    // Single-page apps: a pushState/replaceState/popstate that changes path or query is a page view.
    const spa = () => setTimeout(() => o.autoPage && href() != lastUrl && page());
    for (const m of ['pushState', 'replaceState'] as const) {
      const f = history[m];
      history[m] = function (this: History, ...a: Parameters<History['pushState']>) {
        f.apply(this, a);
        spa();
      };
    }
    listen(window, 'popstate', spa);

    const dom = () => {
      if (typeof IntersectionObserver == 'function')
        io = new IntersectionObserver(
          (es) =>
            es.forEach((x) => {
              const el = x.target;
              const vh = x.rootBounds ? x.rootBounds.height : innerHeight;
              if (x.isIntersecting && (x.intersectionRatio >= 0.5 || x.intersectionRect.height >= vh / 2) && !seen.has(el)) {
                seen.add(el);
                io!.unobserve(el);
                viewed(el);
              }
            }),
          { threshold: [0, 0.1, 0.25, 0.5, 0.75, 1] },
        );
      if (typeof MutationObserver == 'function')
        new MutationObserver((ms) =>
          ms.forEach((m) => m.addedNodes.forEach((n) => n instanceof Element && scan(n))),
        ).observe(doc.documentElement, { childList: true, subtree: true });
      o.autoPage ? page() : rescan();
      pre.splice(0).forEach((f) => f());
    };
    doc.readyState == 'loading' ? listen(doc, 'DOMContentLoaded', dom) : dom();
  };

  return {
    init: start,
    page: api(page),
    track: api(track),
    identify: api((userId?: string | Props, traits?: Props, options?: IdentifyOptions) => {
      if (typeof userId == 'object') {
        traits = userId;
        userId = undefined;
      }
      if (!on()) return;
      ids();
      if (userId) {
        if (userId != uid || options?.userHash) store('uh', (uh = options?.userHash || null));
        store('uid', (uid = userId));
      }
      ev('identify', { traits });
    }),
    alias: api((userId: string, previousId?: string) => {
      if (on()) {
        ids();
        ev('alias', { userId, previousId: previousId || uid || aid! });
      }
    }),
    group: api((groupId: string, traits?: Props) => ev('group', { groupId, traits })),
    reset: api(() => {
      if (o.useServerCookie) store('sx', aid);
      store('uid');
      store('uh');
      uid = uh = aid = null;
      if (on()) {
        aid = uuid();
        saveId();
      }
    }),
    optOut,
    optIn,
    recommend: api(recommend) as Ecrm['recommend'],
    flush: api(flush),
    user: () => ({ anonymousId: aid, userId: uid }),
  };
}
