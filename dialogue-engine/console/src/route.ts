// The console's location lives in the URL hash, so every view is a link a marketer can bookmark or share.

export type Page = 'overview' | 'funnel' | 'trends' | 'segments' | 'customers' | 'triggers' | 'health';

export interface Route {
  page: Page;
  /** The topic (funnel, trends), customer id (customers) or trigger id (triggers); '' when none is chosen yet. */
  id: string;
  params: Record<string, string>;
}

const PAGES: Page[] = ['overview', 'funnel', 'trends', 'segments', 'customers', 'triggers', 'health'];

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '').replace(/^\//, '');
  const [path, search = ''] = raw.split('?', 2);
  const [first = '', ...rest] = path.split('/');
  const page = (PAGES as string[]).includes(first) ? (first as Page) : 'overview';
  let id = '';
  try {
    id = page === 'overview' || page === 'health' ? '' : decodeURIComponent(rest.join('/'));
  } catch {
    id = rest.join('/');
  }
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(search)) if (v !== '') params[k] = v;
  return { page, id, params };
}

export function formatRoute(route: Route): string {
  const path = `#/${route.page}${route.id ? `/${encodeURIComponent(route.id)}` : ''}`;
  const search = new URLSearchParams(Object.entries(route.params).filter(([, v]) => v !== '' && v !== undefined)).toString();
  return search ? `${path}?${search}` : path;
}

/** The filters every analytics page shares, carried from page to page. */
export const SHARED_PARAMS = ['from', 'to', 'window', 'channel', 'segment'] as const;

export function link(page: Page, id: string, current: Route, extra: Record<string, string> = {}): string {
  const params: Record<string, string> = {};
  for (const k of SHARED_PARAMS) if (current.params[k]) params[k] = current.params[k];
  return formatRoute({ page, id, params: { ...params, ...extra } });
}
