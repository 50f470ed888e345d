// Numbers, shares, durations and dates the way a marketer reads them.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : integer.format(n);
}

/** Compact for axis labels and tiles: 950, 1.2k, 34k, 1.5M. */
export function formatCompact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return integer.format(n);
  const [value, unit] = abs < 1e6 ? [n / 1e3, 'k'] : abs < 1e9 ? [n / 1e6, 'M'] : [n / 1e9, 'B'];
  return `${Math.abs(value) < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value)}${unit}`;
}

/** A share 0..1 as a percentage: 1 decimal below 10 %, none above; "<0.1%" for tiny non-zero shares. */
export function formatPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–';
  const pct = share * 100;
  if (pct > 0 && pct < 0.1) return '<0.1%';
  return `${pct < 10 ? pct.toFixed(1).replace(/\.0$/, '') : Math.round(pct)}%`;
}

/** Seconds as the two largest units: "45s", "12m", "3h 20m", "2d 4h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const units: [string, number][] = [['d', 86400], ['h', 3600], ['m', 60]];
  const parts: string[] = [];
  let rest = s;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.filter((p, i) => i === 0 || !p.startsWith('0')).join(' ');
}

/** A Date as YYYY-MM-DD in UTC, the API's date format. */
export function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return isoDate(d);
}

/** The last `days` days ending today (both ends included). */
export function lastDays(days: number, today: Date = new Date()): { from: string; to: string } {
  const to = isoDate(today);
  return { from: addDays(to, -(days - 1)), to };
}

const shortDate = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
const dateTime = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });

/** "Nov 3" for axis labels (dates are UTC days). */
export function formatDay(date: string): string {
  const d = new Date(`${date.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? date : shortDate.format(d);
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

/** "3d ago", "just now": for the customer's last interaction. */
export function formatAgo(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return '–';
  const seconds = (now.getTime() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 60) return 'just now';
  return `${formatDuration(seconds).split(' ')[0]} ago`;
}

/** The API's window ("7d", "12h") in words. */
export function windowLabel(window: string): string {
  if (window === 'none') return 'no';
  const m = /^(\d+)([dh])$/.exec(window);
  if (!m) return window;
  const n = Number(m[1]);
  return m[2] === 'h' ? `${n} hour${n === 1 ? '' : 's'}` : `${n} day${n === 1 ? '' : 's'}`;
}

/** A label for a breakdown key: channel names capitalised, ISO weeks as "Week of Nov 3". */
export function breakdownKeyLabel(breakdown: string, key: string): string {
  if (key === '') return '(none)';
  if (breakdown === 'channel' || breakdown === 'firstChannel') return key.charAt(0).toUpperCase() + key.slice(1);
  if (breakdown === 'cohortWeek' && /^\d{4}-\d{2}-\d{2}$/.test(key)) return `Week of ${formatDay(key)}`;
  return key;
}

/** The overall conversion of a funnel: the last stage's share of the first. */
export function overallConversion(stages: { customers: number; conversionFromFirst: number | null }[]): number {
  if (stages.length === 0) return 0;
  const last = stages[stages.length - 1];
  if (last.conversionFromFirst !== null && Number.isFinite(last.conversionFromFirst)) return last.conversionFromFirst;
  return stages[0].customers > 0 ? last.customers / stages[0].customers : 0;
}

/** The stage that loses the largest share of those who reached the one before it. */
export function biggestDropOff<T extends { stage: number; name: string; conversionFromPrevious: number | null }>(stages: T[]): T | null {
  let worst: T | null = null;
  for (const s of stages.slice(1)) {
    if (s.conversionFromPrevious === null) continue;
    if (!worst || s.conversionFromPrevious < worst.conversionFromPrevious!) worst = s;
  }
  return worst;
}
