// The Ecrm console: sign in with an API key, then funnels, trends, segments, customers, triggers and pipeline health.
import { ApiClient, ApiError, checkKey } from './api';
import { Scope } from './charts';
import { clear, h, icon, toast } from './dom';
import { formatRoute, link, parseRoute, type Page } from './route';
import type { Catalog, SavedSegment } from './types';
import type { Ctx } from './views/context';
import { renderCustomer } from './views/customer';
import { renderFunnel } from './views/funnel';
import { renderHealth } from './views/health';
import { renderOverview } from './views/overview';
import { renderSegments, resetBuilder } from './views/segments';
import { renderTrends } from './views/trends';
import { renderTriggers } from './views/triggers';

const KEY = 'ecrm.console.key';
const NAV: { page: Page; label: string; icon: string }[] = [
  { page: 'overview', label: 'Overview', icon: 'overview' },
  { page: 'funnel', label: 'Funnels', icon: 'funnel' },
  { page: 'trends', label: 'Trends', icon: 'trends' },
  { page: 'segments', label: 'Segments', icon: 'segments' },
  { page: 'customers', label: 'Customers', icon: 'customers' },
  { page: 'triggers', label: 'Triggers', icon: 'triggers' },
  { page: 'health', label: 'Health', icon: 'health' },
];
const VIEWS: Record<Page, (ctx: Ctx) => Promise<void>> = {
  overview: renderOverview, funnel: renderFunnel, trends: renderTrends, segments: renderSegments, customers: renderCustomer,
  triggers: renderTriggers, health: renderHealth,
};

const root = document.getElementById('app')!;

async function start(): Promise<void> {
  const key = sessionStorage.getItem(KEY);
  if (!key) return showLogin();
  try {
    const catalog = await checkKey(key);
    if (!catalog) return showLogin('Your session ended: the key is no longer accepted.');
    showApp(new ApiClient(key), catalog);
  } catch (e) {
    showLogin((e as Error).message);
  }
}

function showLogin(message = ''): void {
  sessionStorage.removeItem(KEY);
  document.title = 'Sign in · Ecrm Console';
  const input = h('input', { id: 'api-key', class: 'input', type: 'password', autocomplete: 'current-password', placeholder: 'ak_…', required: true, 'aria-describedby': 'login-error' });
  const error = h('p', { id: 'login-error', class: 'login-error', role: 'alert' }, message);
  const button = h('button', { class: 'btn primary block', type: 'submit', id: 'login-submit' }, 'Sign in');
  const form = h('form', { class: 'login-card', id: 'login', onsubmit: async (e: Event) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    button.textContent = 'Checking…';
    error.textContent = '';
    try {
      const catalog = await checkKey(key);
      if (!catalog) {
        error.textContent = 'That key was not accepted. Use an API key (or the admin key) of this engine.';
        input.select();
        return;
      }
      sessionStorage.setItem(KEY, key);
      showApp(new ApiClient(key), catalog);
    } catch (err) {
      error.textContent = (err as Error).message;
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  } },
  h('div', { class: 'brand large' }, icon('logo', 28), h('span', null, 'Ecrm'), h('span', { class: 'brand-tag' }, 'Console')),
  h('h1', null, 'Sign in'),
  h('p', { class: 'muted' }, 'Funnels, segments and customers from your dialogue engine. Sign in with an API key; it stays in this tab only.'),
  h('label', { for: 'api-key', class: 'filter-label' }, 'API key'), input, error, button);
  clear(root, h('main', { class: 'login' }, form));
  input.focus();
}

function showApp(api: ApiClient, catalog: Catalog): void {
  const main = h('main', { class: 'content', id: 'content', tabindex: '-1' });
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' });
  const logout = () => {
    sessionStorage.removeItem(KEY);
    resetBuilder();
    window.removeEventListener('hashchange', route);
    scope.dispose();
    showLogin();
  };
  clear(root, h('div', { class: 'shell' },
    h('aside', { class: 'sidebar' },
      h('a', { class: 'brand', href: '#/overview' }, icon('logo', 22), h('span', null, 'Ecrm'), h('span', { class: 'brand-tag' }, 'Console')),
      nav,
      h('div', { class: 'sidebar-foot' },
        h('div', { class: 'muted small catalog-note' }, `${catalog.topics.length} topics · ${catalog.stages.length} stages`),
        h('button', { class: 'btn ghost logout', type: 'button', id: 'logout', onclick: logout }, icon('logout', 16), h('span', null, 'Sign out')))),
    main));

  const names = new Map(catalog.topics.map((t) => [t.id, t.name]));
  let segmentCache: Promise<SavedSegment[]> | null = null;
  let scope = new Scope();
  const ctxFor = (s: Scope): Ctx => ({
    api, catalog, main, scope: s, route: parseRoute(location.hash),
    go: (hash, replace) => {
      if (replace) { history.replaceState(null, '', hash); route(); } else location.hash = hash;
    },
    fail: (e, where) => {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      if (e instanceof ApiError && e.unauthorized) { logout(); return; }
      const text = e instanceof ApiError
        ? (e.status === 404 ? `This engine does not serve that yet (404). ${e.message === '404 Not Found' ? '' : e.message}`.trim() : e.message)
        : (e as Error).message;
      if (where) where.replaceWith(h('div', { class: 'card error-card', role: 'alert' }, h('b', null, 'Could not load this'), h('p', null, text)));
      else toast(text, 'error');
    },
    segments: (refresh) => {
      if (refresh || !segmentCache) segmentCache = api.segments().catch((e) => { segmentCache = null; throw e; });
      return segmentCache;
    },
    topicName: (id) => names.get(id) ?? id,
  });

  const route = () => {
    scope.dispose();
    scope = new Scope();
    const ctx = ctxFor(scope);
    const { page } = ctx.route;
    clear(nav, NAV.map((n) => h('a', { href: n.page === page ? formatRoute(ctx.route) : link(n.page, n.page === 'funnel' || n.page === 'trends' ? (ctx.route.page === 'funnel' || ctx.route.page === 'trends' ? ctx.route.id : '') : '', ctx.route),
      class: n.page === page ? 'active' : '', 'aria-current': n.page === page ? 'page' : undefined, 'data-page': n.page }, icon(n.icon), h('span', null, n.label))));
    document.title = `${NAV.find((n) => n.page === page)?.label ?? 'Console'} · Ecrm Console`;
    root.dataset.page = page;
    main.scrollTop = 0;
    VIEWS[page](ctx).catch((e) => ctx.fail(e));
  };
  window.addEventListener('hashchange', route);
  route();
}

start();
