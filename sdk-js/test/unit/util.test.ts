// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { campaign, href, uuid } from '../../src/util';

describe('util', () => {
  it('uuid() makes distinct v4 uuids', () => {
    const ids = new Set(Array.from({ length: 2000 }, uuid));
    expect(ids.size).toBe(2000);
    for (const id of [...ids].slice(0, 50)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('campaign() maps utm_* parameters and is absent without them', () => {
    history.replaceState({}, '', '/p?utm_campaign=c&utm_source=s&x=1#h');
    expect(campaign()).toEqual({ name: 'c', source: 's' });
    expect(href()).toBe(location.origin + '/p?utm_campaign=c&utm_source=s&x=1');
    history.replaceState({}, '', '/p?x=1');
    expect(campaign()).toBeUndefined();
  });
});
