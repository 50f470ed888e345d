// Runs the real tracker bundle (built from src with esbuild) inside a fresh jsdom window per test.
// Network calls go over real HTTP to the test collector (test/server.mjs); nothing of the tracker is mocked.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
let code: string | undefined;

export async function bundle(): Promise<string> {
  if (!code) {
    const r = await build({
      entryPoints: [new URL('../../src/browser.ts', import.meta.url).pathname],
      bundle: true,
      format: 'iife',
      write: false,
      target: 'es2020',
      define: { __VERSION__: JSON.stringify(version) },
    });
    code = r.outputFiles[0].text;
  }
  return code;
}

export { version };

export interface Win {
  window: any;
  ecrm: any;
  /** localStorage keys and values (the tracker's persisted state). */
  storage(): Record<string, string>;
  close(): void;
}

export interface WinOptions {
  url?: string;
  html?: string;
  /** Entries to put in localStorage before the tracker loads (simulates a reload). */
  storage?: Record<string, string>;
  /** Provide navigator.sendBeacon (delivered over real HTTP). Default: absent, so fetch keepalive is used. */
  beacon?: boolean;
  dnt?: boolean;
  /** Code to run before the tracker script (e.g. the async snippet stub). */
  before?: string;
}

export async function makeWindow(opts: WinOptions = {}): Promise<Win> {
  const dom = new JSDOM(opts.html ?? '<!doctype html><html><head><title>Test page</title></head><body><p>hi</p></body></html>', {
    url: opts.url ?? 'http://shop.example.com/tv/oled?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=tv&utm_content=a#top',
    referrer: 'https://search.example.org/?q=tv',
    runScripts: 'outside-only',
    pretendToBeVisual: true,
  });
  const w: any = dom.window;
  for (const [k, v] of Object.entries(opts.storage ?? {})) w.localStorage.setItem(k, v);
  // The browser's fetch, backed by Node's real HTTP client.
  w.fetch = (u: string, init: any = {}) => {
    const { keepalive, credentials, ...rest } = init;
    return fetch(new URL(String(u), w.location.href), rest);
  };
  if (opts.beacon)
    w.navigator.sendBeacon = (u: string, data: any) => {
      const send = (text: string) =>
        fetch(new URL(String(u), w.location.href), { method: 'POST', body: text, headers: { 'Content-Type': data.type || 'text/plain' } }).catch(() => {});
      typeof data === 'string' ? send(data) : data.text().then(send);
      return true;
    };
  if (opts.dnt) Object.defineProperty(w.navigator, 'doNotTrack', { get: () => '1' });
  if (opts.before) w.eval(opts.before);
  w.eval(await bundle());
  return {
    window: w,
    ecrm: w.ecrm,
    storage() {
      const out: Record<string, string> = {};
      for (let i = 0; i < w.localStorage.length; i++) {
        const k = w.localStorage.key(i);
        out[k] = w.localStorage.getItem(k);
      }
      return out;
    },
    close() {
      w.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
