/**
 * Finding fields by usage path. Mapping tables name fields by a path *suffix* (`PowerSummary.RemainingCapacity`
 * matches `UPS.PowerSummary.RemainingCapacity`), so one entry covers every device that follows the standard,
 * whatever its top-level collection. Instance markers (`Input.[1]`) are ignored when matching.
 */
import type { ReportField } from '../hid/report-descriptor.js';

export function normalizedSegments(path: string): string[] {
  return path.split('.').filter((s) => !/^\[\d+\]$/.test(s));
}

export function matchesSuffix(path: string, pattern: string): boolean {
  const segments = normalizedSegments(path);
  const wanted = pattern.split('.');
  if (wanted.length > segments.length) return false;
  const start = segments.length - wanted.length;
  return wanted.every((w, i) => segments[start + i] === w);
}

/** Path patterns, best first. A pattern may exclude paths containing a segment: `Voltage!Output!Outlet`. */
export function parsePattern(pattern: string): { suffix: string; excluded: string[] } {
  const [suffix = '', ...excluded] = pattern.split('!');
  return { suffix, excluded };
}

export function fieldMatches(field: ReportField, pattern: string): boolean {
  const { suffix, excluded } = parsePattern(pattern);
  if (!matchesSuffix(field.path, suffix)) return false;
  if (excluded.length === 0) return true;
  const segments = normalizedSegments(field.path);
  return !excluded.some((e) => segments.includes(e));
}
