/**
 * UPS state: NUT variable name -> value, as upsc prints it. Values are always strings, as on the wire.
 */
export type UpsVars = Record<string, string>;

export interface VarChange {
  name: string;
  before: string | undefined;
  after: string | undefined;
}

export function diffVars(before: UpsVars, after: UpsVars): VarChange[] {
  const changes: VarChange[] = [];
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[name] !== after[name]) changes.push({ name, before: before[name], after: after[name] });
  }
  return changes.sort((a, b) => a.name.localeCompare(b.name));
}

/** `name: value` lines sorted by name, exactly as `upsc ups@host` prints them. */
export function formatUpscLines(vars: UpsVars): string {
  return Object.keys(vars)
    .sort()
    .map((k) => `${k}: ${vars[k]}`)
    .join('\n');
}

/** Numeric view of a variable, or undefined when it is absent or not a number. */
export function numberVar(vars: UpsVars, name: string): number | undefined {
  const raw = vars[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** NUT prints numbers without exponent; integers as integers, others with at most needed decimals. */
export function formatNumber(n: number, decimals?: number): string {
  if (decimals !== undefined) return n.toFixed(decimals);
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toFixed(3)));
}
