/**
 * Report codec: reads and writes one field's bits in a report and converts between the logical value
 * on the wire and the physical value (scaled by the physical range and 10^unit exponent). Pure functions;
 * every failure is an UpsfleetError with code HID_REPORT.
 */
import { UpsfleetError } from '../../../../shared/errors.js';
import type { ReportDescriptor, ReportField, ReportType } from './report-descriptor.js';

/** Fields wider than this cannot be held exactly in a JavaScript number. */
const MAX_VALUE_BITS = 52;

/** HID units are cm/g/s based: volts and watts need 10^-7 to become SI (1 V = 10^7 g·cm²·s⁻³·A⁻¹). */
const UNIT_VOLT = 0x00f0d121;
const UNIT_POWER = 0x0000d121;

function fail(message: string, details: Record<string, unknown>): never {
  throw new UpsfleetError('HID_REPORT', message, details);
}

function headerBytes(field: ReportField): number {
  return field.reportId !== 0 ? 1 : 0;
}

/** The raw, unsigned bits of a field, little-endian, offset counted after the report-ID byte. */
export function extractBits(report: Uint8Array, bitOffset: number, bitSize: number, header: number): number {
  if (bitSize < 1 || bitSize > MAX_VALUE_BITS)
    fail(`field of ${bitSize} bits cannot be decoded`, { bitSize });
  const lastBit = header * 8 + bitOffset + bitSize - 1;
  if (bitOffset < 0 || lastBit >= report.length * 8) {
    fail(`report of ${report.length} bytes too short for bits ${bitOffset}..${bitOffset + bitSize - 1}`, {
      length: report.length,
      bitOffset,
      bitSize,
    });
  }
  let value = 0;
  let scale = 1;
  for (let i = 0; i < bitSize; i++) {
    const bit = header * 8 + bitOffset + i;
    if ((report[bit >> 3]! >> (bit & 7)) & 1) value += scale;
    scale *= 2;
  }
  return value;
}

/** Writes `value`'s low `bitSize` bits into `report` in place. */
export function insertBits(
  report: Uint8Array,
  bitOffset: number,
  bitSize: number,
  header: number,
  value: number,
): void {
  if (bitSize < 1 || bitSize > MAX_VALUE_BITS)
    fail(`field of ${bitSize} bits cannot be encoded`, { bitSize });
  const lastBit = header * 8 + bitOffset + bitSize - 1;
  if (bitOffset < 0 || lastBit >= report.length * 8)
    fail('report too short for field', { bitOffset, bitSize });
  let rest = value;
  for (let i = 0; i < bitSize; i++) {
    const bit = header * 8 + bitOffset + i;
    const set = rest % 2 === 1;
    rest = Math.floor(rest / 2);
    const byte = bit >> 3;
    report[byte] = set ? report[byte]! | (1 << (bit & 7)) : report[byte]! & ~(1 << (bit & 7));
  }
}

export function isSigned(field: ReportField): boolean {
  return field.logicalMin < 0;
}

/** The logical value of a field: its bits, sign-extended when the logical range is signed. */
export function decodeLogical(report: Uint8Array, field: ReportField): number {
  const raw = extractBits(report, field.bitOffset, field.bitSize, headerBytes(field));
  if (isSigned(field) && raw >= 2 ** (field.bitSize - 1)) return raw - 2 ** field.bitSize;
  return raw;
}

function exponentOf(field: ReportField): number {
  const correction = field.unit === UNIT_VOLT || field.unit === UNIT_POWER ? -7 : 0;
  return field.unitExponent + correction;
}

function hasPhysicalRange(
  field: ReportField,
): field is ReportField & { physicalMin: number; physicalMax: number } {
  return (
    field.physicalMin !== undefined &&
    field.physicalMax !== undefined &&
    !(field.physicalMin === 0 && field.physicalMax === 0) &&
    field.logicalMax !== field.logicalMin
  );
}

/** Rounds away binary noise such as 229.99999999999997 without losing real decimals. */
function tidy(n: number): number {
  return Number(n.toPrecision(12));
}

export function logicalToPhysical(field: ReportField, logical: number): number {
  let value = logical;
  if (hasPhysicalRange(field)) {
    value =
      ((logical - field.logicalMin) * (field.physicalMax - field.physicalMin)) /
        (field.logicalMax - field.logicalMin) +
      field.physicalMin;
  }
  return tidy(value * 10 ** exponentOf(field));
}

export function physicalToLogical(field: ReportField, physical: number): number {
  let value = physical / 10 ** exponentOf(field);
  if (hasPhysicalRange(field)) {
    value =
      ((value - field.physicalMin) * (field.logicalMax - field.logicalMin)) /
        (field.physicalMax - field.physicalMin) +
      field.logicalMin;
  }
  return Math.round(tidy(value));
}

/** The physical value of a field in a report (first byte = report ID when the descriptor uses IDs). */
export function decodeField(report: Uint8Array, field: ReportField): number {
  return logicalToPhysical(field, decodeLogical(report, field));
}

/** Writes a physical value into a copy of `report`; throws when it does not fit the field. */
export function encodeField(report: Uint8Array, field: ReportField, physical: number): Uint8Array {
  if (!Number.isFinite(physical))
    fail(`${field.path}: value ${physical} is not a finite number`, { path: field.path });
  return encodeLogicalField(report, field, physicalToLogical(field, physical));
}

/** Writes a logical (wire) value into a copy of `report`, e.g. the -1 "no countdown" marker of a delay. */
export function encodeLogicalField(report: Uint8Array, field: ReportField, logical: number): Uint8Array {
  const signed = isSigned(field);
  const min = signed ? -(2 ** (field.bitSize - 1)) : 0;
  const max = signed ? 2 ** (field.bitSize - 1) - 1 : 2 ** field.bitSize - 1;
  if (!Number.isSafeInteger(logical) || logical < min || logical > max) {
    fail(`${field.path}: logical value ${logical} does not fit in ${field.bitSize} bits`, {
      path: field.path,
      logical,
    });
  }
  const out = Uint8Array.from(report);
  insertBits(
    out,
    field.bitOffset,
    field.bitSize,
    headerBytes(field),
    logical < 0 ? logical + 2 ** field.bitSize : logical,
  );
  return out;
}

/** An all-zero report of the right length for a report ID and type, its first byte set to the ID. */
export function emptyReport(descriptor: ReportDescriptor, type: ReportType, reportId: number): Uint8Array {
  const length = descriptor.reportLengths[type].get(reportId);
  if (length === undefined) fail(`no ${type} report ${reportId} in the descriptor`, { type, reportId });
  const out = new Uint8Array(length);
  if (descriptor.usesReportIds) out[0] = reportId;
  return out;
}

export interface DecodedValue {
  field: ReportField;
  value: number;
}

/**
 * Every field of one report that the bytes cover. A report's first byte picks the ID; fields beyond a short
 * report are left out (real firmware sometimes answers with fewer bytes than it declares).
 */
export function decodeReport(
  descriptor: ReportDescriptor,
  type: ReportType,
  report: Uint8Array,
): DecodedValue[] {
  if (report.length === 0) fail('empty report', { type });
  const reportId = descriptor.usesReportIds ? report[0]! : 0;
  const out: DecodedValue[] = [];
  for (const field of descriptor.fields) {
    if (field.type !== type || field.reportId !== reportId || field.bitSize > MAX_VALUE_BITS) continue;
    const header = headerBytes(field);
    if (header * 8 + field.bitOffset + field.bitSize > report.length * 8) continue;
    out.push({ field, value: decodeField(report, field) });
  }
  return out;
}
