/**
 * What a GET_REPORT answer carries. Like NUT, we ask every report ID the descriptor declares with the same
 * request, Feature or Input, and decode an answer for its Input items as well as its Feature items: real
 * firmware answers an Input-only ID with its input report, and many declare status, charge and runtime only
 * as Input items. Not when the ID's Input layout clashes with its Feature layout (an Input field on bits a
 * Feature field of another usage uses, as on 5131:2007): that answer is the Feature report, and reading it
 * with the Input layout would invent values (NUT does, and gets them wrong).
 */
import { MIN_GET_REPORT_LENGTH } from '../bindings/hid-binding.js';
import type { ReportDescriptor, ReportField } from './report-descriptor.js';

const cache = new WeakMap<ReportDescriptor, Set<number>>();

function overlaps(a: ReportField, b: ReportField): boolean {
  return a.bitOffset < b.bitOffset + b.bitSize && b.bitOffset < a.bitOffset + a.bitSize;
}

function sameItem(a: ReportField, b: ReportField): boolean {
  return a.usage === b.usage && a.bitOffset === b.bitOffset && a.bitSize === b.bitSize;
}

/** Report IDs whose GET_REPORT answer is decoded for its Input items too. */
export function inputIdsReadByGetReport(descriptor: ReportDescriptor): Set<number> {
  let ids = cache.get(descriptor);
  if (ids) return ids;
  ids = new Set<number>();
  for (const id of descriptor.reportLengths.Input.keys()) {
    const inputs = descriptor.fields.filter((f) => f.type === 'Input' && f.reportId === id);
    const features = descriptor.fields.filter((f) => f.type === 'Feature' && f.reportId === id);
    const clash = inputs.some((i) => features.some((f) => overlaps(i, f) && !sameItem(i, f)));
    if (!clash) ids.add(id);
  }
  cache.set(descriptor, ids);
  return ids;
}

/** Every report ID a full poll or a capture asks for: Feature IDs and the Input IDs answers carry, ascending. */
export function getReportIds(descriptor: ReportDescriptor): number[] {
  const ids = new Set([...descriptor.reportLengths.Feature.keys(), ...inputIdsReadByGetReport(descriptor)]);
  return [...ids].sort((a, b) => a - b);
}

/** The buffer for a GET_REPORT of `reportId`: its longest layout, never under hidraw's 2-byte minimum. */
export function getReportLength(descriptor: ReportDescriptor, reportId: number): number {
  const feature = descriptor.reportLengths.Feature.get(reportId) ?? 0;
  const input = inputIdsReadByGetReport(descriptor).has(reportId)
    ? (descriptor.reportLengths.Input.get(reportId) ?? 0)
    : 0;
  const longest = Math.max(feature, input);
  return Math.max(MIN_GET_REPORT_LENGTH, longest === 0 ? 64 : longest);
}
