/**
 * HID report-descriptor parser: bytes in, every report field out, each with its usage path
 * (`UPS.PowerSummary.RemainingCapacity`), its place in its report (type, report ID, bit offset, size)
 * and what is needed to turn its bits into a physical value. Pure and bounded: every loop advances
 * through the input or is capped, and every failure is an UpsfleetError with code HID_DESCRIPTOR.
 */
import { UpsfleetError } from '../../../../shared/errors.js';
import { usageName } from './usage-names.js';

export type ReportType = 'Input' | 'Output' | 'Feature';

export interface ReportField {
  type: ReportType;
  /** 0 when the descriptor declares no report IDs. */
  reportId: number;
  /** Bit offset inside the report, counted after the report-ID byte. */
  bitOffset: number;
  bitSize: number;
  /** 32-bit usage: page << 16 | id. */
  usage: number;
  /** Usages of the enclosing collections, outermost first, then the field's own. */
  usagePath: number[];
  /** Dotted names, e.g. `UPS.PowerSummary.PresentStatus.ACPresent`; `[n]` marks an instance collection. */
  path: string;
  logicalMin: number;
  logicalMax: number;
  physicalMin: number | undefined;
  physicalMax: number | undefined;
  unit: number;
  /** Signed exponent from the Unit Exponent item's low nibble. */
  unitExponent: number;
  /** Main-item flag bits (bit 0 Constant, bit 1 Variable, bit 2 Relative, ...). */
  flags: number;
}

export interface ReportDescriptor {
  fields: ReportField[];
  /** True when the descriptor uses report IDs (every report then starts with its ID byte). */
  usesReportIds: boolean;
  /** Length in bytes of each report including the report-ID byte when IDs are used, by type then ID. */
  reportLengths: Record<ReportType, Map<number, number>>;
}

/** Caps that keep a hostile or corrupt descriptor from exhausting memory. */
const MAX_REPORT_BITS = 8 * 4096;
const MAX_FIELDS = 65_536;
const MAX_GLOBAL_STACK = 32;
const MAX_COLLECTION_DEPTH = 64;

interface GlobalState {
  usagePage: number;
  logicalMin: number;
  logicalMax: number;
  /** Logical Maximum reread as unsigned, for firmware that writes `25 ff` meaning 255. */
  logicalMaxUnsigned: number;
  physicalMin: number | undefined;
  physicalMax: number | undefined;
  physicalMaxUnsigned: number | undefined;
  unit: number;
  unitExponent: number;
  reportSize: number;
  reportId: number;
  reportCount: number;
}

interface UsageEntry {
  min: number;
  max: number;
}

interface Collection {
  name: string;
  usage: number;
}

function fail(message: string, offset: number): never {
  throw new UpsfleetError('HID_DESCRIPTOR', `report descriptor: ${message} at byte ${offset}`, { offset });
}

function readUnsigned(bytes: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (bytes[at + i] ?? 0);
  return v;
}

function toSigned(value: number, size: number): number {
  if (size === 0) return 0;
  const bits = size * 8;
  const half = 2 ** (bits - 1);
  return value >= half ? value - 2 ** bits : value;
}

const MAIN_TYPES: Record<number, ReportType> = { 8: 'Input', 9: 'Output', 11: 'Feature' };

export function parseReportDescriptor(bytes: Uint8Array): ReportDescriptor {
  if (bytes.length === 0) fail('empty descriptor', 0);
  let g: GlobalState = {
    usagePage: 0,
    logicalMin: 0,
    logicalMax: 0,
    logicalMaxUnsigned: 0,
    physicalMin: undefined,
    physicalMax: undefined,
    physicalMaxUnsigned: undefined,
    unit: 0,
    unitExponent: 0,
    reportSize: 0,
    reportId: 0,
    reportCount: 0,
  };
  const globalStack: GlobalState[] = [];
  let usages: UsageEntry[] = [];
  let pendingUsageMin: number | undefined;
  let delimiterDepth = 0;
  let delimiterUsageTaken = false;
  const collections: Collection[] = [];
  const fields: ReportField[] = [];
  const bitCursor = new Map<string, number>();
  let usesReportIds = false;

  const fullUsage = (value: number, size: number) =>
    size === 4 ? value >>> 0 : ((g.usagePage << 16) | value) >>> 0;
  const clearLocals = () => {
    usages = [];
    pendingUsageMin = undefined;
    delimiterUsageTaken = false;
  };
  const usageAt = (index: number): number | undefined => {
    // Ranges count as many usages as they span; the last usage repeats for the remaining fields.
    let remaining = index;
    let last: number | undefined;
    for (const u of usages) {
      const span = u.max - u.min + 1;
      if (remaining < span) return u.min + remaining;
      remaining -= span;
      last = u.max;
    }
    return last;
  };

  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    const prefix = bytes[pos]!;
    if (prefix === 0xfe) {
      // Long item: FE, data size, long tag, data. No long items are defined; skip them whole.
      if (pos + 2 >= bytes.length) fail('truncated long item', start);
      const size = bytes[pos + 1]!;
      if (pos + 3 + size > bytes.length) fail('truncated long item data', start);
      pos += 3 + size;
      continue;
    }
    const sizeCode = prefix & 0x03;
    const size = sizeCode === 3 ? 4 : sizeCode;
    const type = (prefix >> 2) & 0x03;
    const tag = (prefix >> 4) & 0x0f;
    if (pos + 1 + size > bytes.length)
      fail(`truncated item 0x${prefix.toString(16).padStart(2, '0')}`, start);
    const raw = readUnsigned(bytes, pos + 1, size);
    const signed = toSigned(raw, size);
    pos += 1 + size;

    if (type === 0) {
      const reportType = MAIN_TYPES[tag];
      if (reportType) {
        emitFields(reportType, raw, start);
        clearLocals();
      } else if (tag === 0xa) {
        if (collections.length >= MAX_COLLECTION_DEPTH) fail('collections nested too deeply', start);
        const usage = usageAt(0) ?? 0;
        // Collection types 0x80-0xFF are vendor-defined; Eaton/MGE use them as instance numbers.
        const instance = raw >= 0x80 ? `.[${raw - 0x80}]` : '';
        collections.push({ name: `${usageName(usage)}${instance}`, usage });
        clearLocals();
      } else if (tag === 0xc) {
        if (collections.length === 0) fail('End Collection without a Collection', start);
        collections.pop();
        clearLocals();
      } else {
        fail(`unknown main item tag 0x${tag.toString(16)}`, start);
      }
    } else if (type === 1) {
      switch (tag) {
        case 0x0:
          g.usagePage = raw & 0xffff;
          break;
        case 0x1:
          g.logicalMin = signed;
          break;
        case 0x2:
          g.logicalMax = signed;
          g.logicalMaxUnsigned = raw;
          break;
        case 0x3:
          g.physicalMin = signed;
          break;
        case 0x4:
          g.physicalMax = signed;
          g.physicalMaxUnsigned = raw;
          break;
        case 0x5:
          // The exponent is a signed nibble (0x0F = -1); firmware writing a signed byte lands on the same nibble.
          g.unitExponent = (raw & 0x0f) >= 8 ? (raw & 0x0f) - 16 : raw & 0x0f;
          break;
        case 0x6:
          g.unit = raw >>> 0;
          break;
        case 0x7:
          if (raw > MAX_REPORT_BITS) fail(`Report Size ${raw} too large`, start);
          g.reportSize = raw;
          break;
        case 0x8:
          if (raw === 0 || raw > 255) fail(`Report ID ${raw} out of range`, start);
          g.reportId = raw;
          usesReportIds = true;
          break;
        case 0x9:
          if (raw > MAX_REPORT_BITS) fail(`Report Count ${raw} too large`, start);
          g.reportCount = raw;
          break;
        case 0xa:
          if (globalStack.length >= MAX_GLOBAL_STACK) fail('Push nested too deeply', start);
          globalStack.push({ ...g });
          break;
        case 0xb: {
          const popped = globalStack.pop();
          if (!popped) fail('Pop without Push', start);
          g = popped;
          break;
        }
        default:
          fail(`unknown global item tag 0x${tag.toString(16)}`, start);
      }
    } else if (type === 2) {
      switch (tag) {
        case 0x0: {
          // Inside a delimiter set only the first usage counts; the others are alternatives.
          if (delimiterDepth > 0 && delimiterUsageTaken) break;
          const u = fullUsage(raw, size);
          usages.push({ min: u, max: u });
          if (delimiterDepth > 0) delimiterUsageTaken = true;
          break;
        }
        case 0x1:
          pendingUsageMin = fullUsage(raw, size);
          break;
        case 0x2: {
          const max = fullUsage(raw, size);
          if (pendingUsageMin !== undefined && max >= pendingUsageMin)
            usages.push({ min: pendingUsageMin, max });
          pendingUsageMin = undefined;
          break;
        }
        case 0xa:
          if (raw === 1) {
            delimiterDepth = 1;
            delimiterUsageTaken = false;
          } else {
            delimiterDepth = 0;
          }
          break;
        default:
          // Designator and string indexes do not affect decoding.
          break;
      }
    } else {
      fail('reserved item type', start);
    }
  }

  const reportLengths: Record<ReportType, Map<number, number>> = {
    Input: new Map(),
    Output: new Map(),
    Feature: new Map(),
  };
  for (const [key, bits] of bitCursor) {
    const [type, id] = key.split(':') as [ReportType, string];
    reportLengths[type].set(Number(id), Math.ceil(bits / 8) + (usesReportIds ? 1 : 0));
  }
  return { fields, usesReportIds, reportLengths };

  function emitFields(reportType: ReportType, flags: number, at: number): void {
    const key = `${reportType}:${g.reportId}`;
    let cursor = bitCursor.get(key) ?? 0;
    const total = g.reportSize * g.reportCount;
    if (cursor + total > MAX_REPORT_BITS)
      fail(`${reportType} report ${g.reportId} longer than ${MAX_REPORT_BITS} bits`, at);
    let logicalMax = g.logicalMax;
    if (logicalMax < g.logicalMin) logicalMax = g.logicalMaxUnsigned;
    let physicalMax = g.physicalMax;
    if (physicalMax !== undefined && g.physicalMin !== undefined && physicalMax < g.physicalMin) {
      physicalMax = g.physicalMaxUnsigned;
    }
    const hasUsages = usages.length > 0;
    for (let i = 0; i < g.reportCount && hasUsages && g.reportSize > 0; i++) {
      if (fields.length >= MAX_FIELDS) fail('too many fields', at);
      const usage = usageAt(i)!;
      const usagePath = [...collections.map((c) => c.usage), usage];
      const path = [...collections.map((c) => c.name), usageName(usage)].join('.');
      fields.push({
        type: reportType,
        reportId: g.reportId,
        bitOffset: cursor + i * g.reportSize,
        bitSize: g.reportSize,
        usage,
        usagePath,
        path,
        logicalMin: g.logicalMin,
        logicalMax,
        physicalMin: g.physicalMin,
        physicalMax,
        unit: g.unit,
        unitExponent: g.unitExponent,
        flags,
      });
    }
    cursor += total;
    bitCursor.set(key, cursor);
  }
}
