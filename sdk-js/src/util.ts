/** Small browser helpers. Everything here must stay tiny: it ships in the < 5 KB bundle. */

/** RFC 4122 version 4 uuid from crypto.getRandomValues (works outside secure contexts too). */
export const uuid = (): string =>
  '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (c) =>
    ((+c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (+c / 4)))).toString(16)),
  );

export const now = (): string => new Date().toISOString();

const P = 'ecrm_';

/** localStorage get; null when storage is unavailable. */
export const load = (k: string): string | null => {
  try {
    return localStorage.getItem(P + k);
  } catch {
    return null;
  }
};

/** localStorage set; removes the key when v is null/undefined. Errors (quota, disabled) are ignored. */
export const store = (k: string, v?: string | null): void => {
  try {
    v == null ? localStorage.removeItem(P + k) : localStorage.setItem(P + k, v);
  } catch {
    /* storage full or disabled: the in-memory state still works */
  }
};

export const COOKIE = P + 'aid';

export const getCookie = (k: string): string | null => {
  const m = document.cookie.match('(?:^|; )' + k + '=([^;]*)');
  return m ? decodeURIComponent(m[1]) : null;
};

/** Set (v) or delete (no v) a first-party cookie for one year. */
export const setCookie = (k: string, v: string | null, domain?: string): void => {
  document.cookie =
    k + '=' + (v ? encodeURIComponent(v) : '') +
    ';path=/;SameSite=Lax;max-age=' + (v ? 31536000 : 0) +
    (domain ? ';domain=' + domain : '') +
    (location.protocol == 'https:' ? ';Secure' : '');
};

/** Current URL without the fragment (a page view is a change of path or query). */
export const href = (): string => location.href.split('#')[0];

/** utm_* parameters as a Segment campaign object (utm_campaign becomes name). */
export const campaign = (): Record<string, string> | undefined => {
  const c: Record<string, string> = {};
  let any: 1 | undefined;
  new URLSearchParams(location.search).forEach((v, k) => {
    if (k.startsWith('utm_')) {
      k = k.slice(4);
      c[k == 'campaign' ? 'name' : k] = v;
      any = 1;
    }
  });
  return any && c;
};

/** Byte size of a string as sent (UTF-8). */
export const bytes = (s: string): number => new Blob([s]).size;

export const dnt = (): boolean => {
  const n = navigator as Navigator & { globalPrivacyControl?: boolean };
  return n.doNotTrack == '1' || (window as unknown as { doNotTrack?: string }).doNotTrack == '1' || !!n.globalPrivacyControl;
};
