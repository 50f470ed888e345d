import { describe, expect, it } from 'vitest';
import { formatRoute, link, parseRoute } from '../../src/route';

describe('routes', () => {
  it('reads page, id and filters from the hash', () => {
    expect(parseRoute('#/funnel/tv-oled-55?from=2026-11-01&to=2026-11-30&breakdown=trait%3Aregion')).toEqual({
      page: 'funnel', id: 'tv-oled-55', params: { from: '2026-11-01', to: '2026-11-30', breakdown: 'trait:region' },
    });
    expect(parseRoute('')).toEqual({ page: 'overview', id: '', params: {} });
    expect(parseRoute('#/nonsense/x')).toEqual({ page: 'overview', id: '', params: {} });
  });

  it('keeps ids with slashes and odd characters intact', () => {
    const route = { page: 'customers' as const, id: 'anon/1 ?&#%', params: {} };
    expect(formatRoute(route)).toBe('#/customers/anon%2F1%20%3F%26%23%25');
    expect(parseRoute(formatRoute(route))).toEqual(route);
  });

  it('carries the shared filters to another page, and only those', () => {
    const current = parseRoute('#/funnel/tv-oled-55?from=2026-11-01&to=2026-11-30&window=14d&channel=email&breakdown=channel&segment=vip');
    expect(link('trends', 'tv-oled-55', current)).toBe('#/trends/tv-oled-55?from=2026-11-01&to=2026-11-30&window=14d&channel=email&segment=vip');
    expect(link('segments', '', current, { topic: 'tv-oled-55' })).toBe('#/segments?from=2026-11-01&to=2026-11-30&window=14d&channel=email&segment=vip&topic=tv-oled-55');
  });
});
