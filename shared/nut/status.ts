/**
 * The `ups.status` model: a space-separated set of NUT tokens. Order is kept canonical when we build a
 * status so that two equal sets format identically; unknown tokens are preserved (clients must tolerate them).
 */
export const STATUS_TOKENS = [
  'FSD',
  'OL',
  'OB',
  'LB',
  'HB',
  'RB',
  'CHRG',
  'DISCHRG',
  'BYPASS',
  'CAL',
  'OFF',
  'OVER',
  'TRIM',
  'BOOST',
  'ALARM',
  'WAIT',
] as const;

export type StatusToken = (typeof STATUS_TOKENS)[number];

const ORDER = new Map<string, number>(STATUS_TOKENS.map((t, i) => [t, i]));

export function parseStatus(text: string | undefined): Set<string> {
  const out = new Set<string>();
  if (!text) return out;
  for (const token of text.trim().split(/\s+/)) {
    if (token) out.add(token.toUpperCase());
  }
  return out;
}

/** Known tokens in canonical order, then unknown ones in the order given. */
export function formatStatus(tokens: Iterable<string>): string {
  const list = [...new Set(tokens)];
  return list
    .map((t, i) => ({ t, k: ORDER.get(t) ?? STATUS_TOKENS.length + i }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.t)
    .join(' ');
}

export function hasStatus(text: string | undefined, token: string): boolean {
  return parseStatus(text).has(token);
}

export function sameStatus(a: string | undefined, b: string | undefined): boolean {
  const sa = parseStatus(a);
  const sb = parseStatus(b);
  if (sa.size !== sb.size) return false;
  for (const t of sa) if (!sb.has(t)) return false;
  return true;
}

/** Tokens added and removed between two status strings. */
export function diffStatus(before: string | undefined, after: string | undefined) {
  const a = parseStatus(before);
  const b = parseStatus(after);
  return {
    added: [...b].filter((t) => !a.has(t)),
    removed: [...a].filter((t) => !b.has(t)),
  };
}
