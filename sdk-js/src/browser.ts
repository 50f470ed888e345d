/** IIFE entry: defines window.ecrm at once and replays calls recorded by the async snippet stub. */
import { createEcrm } from './tracker';

const w = window as unknown as { ecrm?: unknown };
const stub = w.ecrm;
if (!stub || Array.isArray(stub)) {
  const e = (w.ecrm = createEcrm()) as unknown as Record<string, (...a: unknown[]) => unknown>;
  if (stub) (stub as [string, ...unknown[]][]).forEach(([m, ...a]) => e[m] && e[m](...a));
}
