/**
 * One HID UPS as NUT sees it: its descriptor (after vendor fix-ups), the latest value of every field,
 * and the mapping that turns them into NUT variables, `ups.status`, instant commands and writable
 * variables. No I/O here: the source feeds reports in and sends the bytes this class encodes.
 */
import { UpsfleetError } from '../../../shared/errors.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import { formatNumber } from '../../../shared/nut/ups-state.js';
import type { WritableVariable } from '../source.js';
import { getReportIds, getReportLength, inputIdsReadByGetReport } from './hid/get-report-layouts.js';
import { emptyReport, encodeField, encodeLogicalField, isSigned } from './hid/report-codec.js';
import type { ReportDescriptor, ReportField, ReportType } from './hid/report-descriptor.js';
import {
  COMMANDS,
  type PlanStep,
  WRITABLE_FIELDS,
  WRITE_TARGET_PATTERNS,
  type WriteTarget,
} from './mapping/commands.js';
import { fieldMatches } from './mapping/path-match.js';
import {
  formatPlain,
  HELPER_RULES,
  STANDARD_RULES,
  type VariableRule,
} from './mapping/standard-variables.js';
import { deriveStatus, type FlagValues, flagPatterns, STATUS_FLAGS } from './mapping/status-flags.js';
import { ValueStore } from './mapping/value-store.js';
import { type VendorProfile, vendorProfileFor } from './mapping/vendor-tables.js';

export interface DeviceIdentity {
  /** 4 lower-case hex digits. */
  vendorId: string;
  productId: string;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
}

export interface HidUpsOptions {
  /** Published instead of the device's battery.charge.low (NUT override.battery.charge.low). */
  chargeLowOverride?: number;
  /** Published instead of the device's battery.runtime.low. */
  runtimeLowOverride?: number;
  /** NUT ignorelb: drop the device's LB and raise LB from charge/runtime below the (overridden) low thresholds. */
  ignoreLowBattery?: boolean;
  /** ups.delay.shutdown / ups.delay.start in seconds; default from the vendor profile. */
  offDelay?: number;
  onDelay?: number;
}

/** Fields that decide ups.status, battery.charge and battery.runtime: polled often. */
const QUICK_PATTERNS = [
  ...STATUS_FLAGS.flatMap((f) => flagPatterns(f)),
  'RemainingCapacity',
  'RunTimeToEmpty',
];

export class HidUps {
  readonly profile: VendorProfile;
  readonly store: ValueStore;
  private offDelay: number;
  private onDelay: number;
  private readonly rules: VariableRule[];
  private readonly matchCache = new Map<string, ReportField[]>();

  constructor(
    readonly identity: DeviceIdentity,
    readonly descriptor: ReportDescriptor,
    private readonly opts: HidUpsOptions = {},
  ) {
    this.profile = vendorProfileFor(identity.vendorId);
    this.profile.fixDescriptor?.(descriptor.fields);
    this.store = new ValueStore(descriptor);
    this.offDelay = opts.offDelay ?? this.profile.offDelay;
    this.onDelay = opts.onDelay ?? this.profile.onDelay;
    const vendorRules = this.profile.rules ?? [];
    const overridden = new Set(vendorRules.map((r) => r.name));
    this.rules = [...vendorRules, ...STANDARD_RULES.filter((r) => !overridden.has(r.name))];
  }

  /** Every Feature report ID the descriptor declares, ascending. */
  featureReportIds(): number[] {
    return [...this.descriptor.reportLengths.Feature.keys()].sort((a, b) => a - b);
  }

  /** Every report ID a full poll asks for: Feature IDs and the Input IDs GET_REPORT answers carry. */
  pollReportIds(): number[] {
    return getReportIds(this.descriptor);
  }

  /** Report IDs whose answers carry status, charge or runtime (Feature or Input items): the quick poll set. */
  quickReportIds(): number[] {
    const inputIds = inputIdsReadByGetReport(this.descriptor);
    const ids = new Set<number>();
    for (const f of this.descriptor.fields) {
      const asked = f.type === 'Feature' || (f.type === 'Input' && inputIds.has(f.reportId));
      if (asked && QUICK_PATTERNS.some((p) => fieldMatches(f, p))) ids.add(f.reportId);
    }
    return [...ids].sort((a, b) => a - b);
  }

  /**
   * The length the descriptor declares for a report: for a GET_REPORT answer its Feature layout (else its
   * Input layout), for an interrupt report its Input layout. Undefined: no such report ID.
   */
  declaredLength(kind: 'answer' | 'input', reportId: number): number | undefined {
    const { Feature, Input } = this.descriptor.reportLengths;
    return kind === 'input' ? Input.get(reportId) : (Feature.get(reportId) ?? Input.get(reportId));
  }

  /** The published variables whose current value came from one of these report IDs. */
  variablesFrom(reportIds: Set<number>): string[] {
    if (reportIds.size === 0) return [];
    const out: string[] = [];
    for (const rule of this.rules) {
      const hit = this.resolve(rule.paths);
      if (hit && reportIds.has(hit.field.reportId)) out.push(rule.name);
    }
    const status = STATUS_FLAGS.some((name) => {
      const hit = this.resolve(flagPatterns(name));
      return hit !== undefined && reportIds.has(hit.field.reportId);
    });
    if (status) out.push('ups.status');
    return out.sort();
  }

  /** The buffer length for a GET_REPORT of this ID (at least 2 bytes, as hidraw requires). */
  getReportLength(reportId: number): number {
    return getReportLength(this.descriptor, reportId);
  }

  /**
   * A GET_REPORT answer: decoded for its Feature items, and for its Input items when its ID's layouts agree.
   * Returns how many fields it carried. Throws HID_REPORT when it cannot be decoded.
   */
  applyAnswer(report: Uint8Array): number {
    let decoded = this.store.apply('Feature', report);
    const id = this.descriptor.usesReportIds ? (report[0] ?? 0) : 0;
    if (inputIdsReadByGetReport(this.descriptor).has(id)) decoded += this.store.apply('Input', report);
    return decoded;
  }

  reportLength(type: ReportType, reportId: number): number | undefined {
    return this.descriptor.reportLengths[type].get(reportId);
  }

  beginBatch(): void {
    this.store.beginBatch();
  }

  /** One report of a known type (an interrupt-IN report is 'Input'). Returns how many fields it carried. */
  apply(type: ReportType, report: Uint8Array): number {
    return this.store.apply(type, report);
  }

  private fieldsFor(pattern: string): ReportField[] {
    let hit = this.matchCache.get(pattern);
    if (!hit) {
      hit = this.descriptor.fields.filter((f) => f.type !== 'Output' && fieldMatches(f, pattern));
      this.matchCache.set(pattern, hit);
    }
    return hit;
  }

  /** The freshest value among the candidate paths; equally fresh ones are ranked by pattern order. */
  private resolve(patterns: string[]): { value: number; field: ReportField } | undefined {
    let best: { value: number; field: ReportField; batch: number } | undefined;
    for (const pattern of patterns) {
      for (const field of this.fieldsFor(pattern)) {
        const stored = this.store.get(field);
        if (stored && (!best || stored.batch > best.batch))
          best = { value: stored.value, field, batch: stored.batch };
      }
    }
    return best;
  }

  private flag(patterns: string[]): boolean | undefined {
    const hit = this.resolve(patterns);
    return hit ? hit.value !== 0 : undefined;
  }

  private writeField(target: WriteTarget): ReportField | undefined {
    for (const pattern of WRITE_TARGET_PATTERNS[target]) {
      const field = this.descriptor.fields.find((f) => f.type === 'Feature' && fieldMatches(f, pattern));
      if (field) return field;
    }
    return undefined;
  }

  /** The NUT variables for everything decoded so far, as upsc would print them. */
  variables(): UpsVars {
    const vars: UpsVars = {};
    const numbers = new Map<string, number>();
    const ctx = { number: (name: string) => numbers.get(name) };
    for (const rule of HELPER_RULES) {
      const hit = this.resolve(rule.paths);
      if (hit) numbers.set(rule.name, hit.value);
    }
    for (const rule of this.rules) {
      const hit = this.resolve(rule.paths);
      if (!hit) continue;
      const text = rule.format ? rule.format(hit.value, hit.field, ctx) : formatPlain(hit.value);
      if (text === undefined) continue;
      vars[rule.name] = text;
      const n = Number(text);
      if (Number.isFinite(n)) numbers.set(rule.name, n);
    }
    this.addIdentity(vars);
    this.profile.postProcess?.(vars);
    if (this.opts.chargeLowOverride !== undefined)
      vars['battery.charge.low'] = formatNumber(this.opts.chargeLowOverride);
    if (this.opts.runtimeLowOverride !== undefined)
      vars['battery.runtime.low'] = formatNumber(this.opts.runtimeLowOverride);
    vars['ups.delay.shutdown'] = formatNumber(this.offDelay);
    vars['ups.delay.start'] = formatNumber(this.onDelay);
    const status = this.status(vars);
    if (status !== '') vars['ups.status'] = status;
    return vars;
  }

  /** `ups.status` from the flags read so far; empty when none was read (never OL from nothing). */
  private status(vars: UpsVars): string {
    const flags: FlagValues = {};
    for (const name of STATUS_FLAGS) {
      const v = this.flag(flagPatterns(name));
      if (v !== undefined) flags[name] = v;
    }
    const extra = this.profile.statusTokens?.((p) => this.flag(p)) ?? [];
    if (this.opts.ignoreLowBattery) {
      const below = (value: string | undefined, limit: string | undefined) =>
        value !== undefined && limit !== undefined && Number(value) < Number(limit);
      if (
        below(vars['battery.charge'], vars['battery.charge.low']) ||
        below(vars['battery.runtime'], vars['battery.runtime.low'])
      ) {
        extra.push('LB');
      }
    }
    return deriveStatus(flags, { ignoreDeviceLowBattery: this.opts.ignoreLowBattery ?? false, extra });
  }

  private addIdentity(vars: UpsVars): void {
    const id = this.identity;
    const mfr = id.manufacturer?.trim() || this.profile.defaultManufacturer;
    const product = id.product?.trim() ?? '';
    const parsed = this.profile.identity?.(product) ?? { model: product };
    vars['device.type'] = 'ups';
    vars['device.mfr'] = mfr;
    vars['ups.mfr'] = mfr;
    if (parsed.model) {
      vars['device.model'] = parsed.model;
      vars['ups.model'] = parsed.model;
    }
    if (parsed.firmware) vars['ups.firmware'] = parsed.firmware;
    if (parsed.firmwareAux) vars['ups.firmware.aux'] = parsed.firmwareAux;
    const serial = id.serialNumber?.trim();
    if (serial) {
      vars['device.serial'] = serial;
      vars['ups.serial'] = serial;
    }
    vars['ups.vendorid'] = id.vendorId;
    vars['ups.productid'] = id.productId;
    vars['driver.name'] = 'usbhid';
  }

  private readonly has = (target: WriteTarget): boolean => this.writeField(target) !== undefined;

  /** Instant commands this device can carry out (every field a command needs exists as a Feature). */
  commands(): string[] {
    return Object.entries(COMMANDS)
      .filter(([, def]) => def.supported(this.has))
      .map(([name]) => name)
      .sort();
  }

  writableVariables(): WritableVariable[] {
    const out: WritableVariable[] = [];
    for (const [name, target] of Object.entries(WRITABLE_FIELDS)) {
      if (this.writeField(target)) out.push({ name, type: 'NUMBER' });
    }
    out.push({ name: 'ups.delay.shutdown', type: 'NUMBER' }, { name: 'ups.delay.start', type: 'NUMBER' });
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The steps of an instant command; throws SOURCE_COMMAND_UNSUPPORTED when the device lacks a field. */
  planCommand(name: string, param?: string): PlanStep[] {
    const def = COMMANDS[name];
    if (!def?.supported(this.has)) {
      throw new UpsfleetError('SOURCE_COMMAND_UNSUPPORTED', `this UPS does not support ${name}`, {
        command: name,
      });
    }
    let value: number | undefined;
    if (param !== undefined && param !== '') {
      value = Number(param);
      if (!Number.isInteger(value)) {
        throw new UpsfleetError(
          'SOURCE_COMMAND_UNSUPPORTED',
          `${name}: parameter ${param} is not a whole number`,
          { command: name },
        );
      }
    }
    return def.plan({ offDelay: this.offDelay, onDelay: this.onDelay }, value, this.has);
  }

  /**
   * Sets a writable variable. Driver settings (ups.delay.*) change here and return no write; device
   * variables return the write to carry out. Throws SOURCE_VARIABLE_READONLY for anything else.
   */
  planSetVariable(name: string, value: string): PlanStep[] {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) {
      throw new UpsfleetError('SOURCE_VARIABLE_READONLY', `${name}: ${value} is not a number`, {
        variable: name,
      });
    }
    if (name === 'ups.delay.shutdown' || name === 'ups.delay.start') {
      if (!Number.isInteger(n) || n < 0) {
        throw new UpsfleetError(
          'SOURCE_VARIABLE_READONLY',
          `${name}: ${value} is not a whole number of seconds`,
          { variable: name },
        );
      }
      if (name === 'ups.delay.shutdown') this.offDelay = n;
      else this.onDelay = n;
      return [];
    }
    const target = WRITABLE_FIELDS[name];
    if (!target || !this.writeField(target)) {
      throw new UpsfleetError('SOURCE_VARIABLE_READONLY', `${name} is not writable on this UPS`, {
        variable: name,
      });
    }
    return [{ kind: 'write', target, value: n }];
  }

  /** Which feature report a write target lives in. */
  targetField(target: WriteTarget): ReportField {
    const field = this.writeField(target);
    if (!field)
      throw new UpsfleetError('SOURCE_COMMAND_UNSUPPORTED', `this UPS has no field for ${target}`, {
        target,
      });
    return field;
  }

  /**
   * The bytes of a SET_REPORT writing `value` into a target field, keeping the other fields of that report
   * as last read (`base`, else the last value stored, else zeros).
   */
  encodeWrite(target: WriteTarget, value: number, base?: Uint8Array): Uint8Array {
    const field = this.targetField(target);
    const length = this.reportLength('Feature', field.reportId) ?? 0;
    let report =
      base ??
      this.store.lastFeatureReport(field.reportId) ??
      emptyReport(this.descriptor, 'Feature', field.reportId);
    if (report.length < length) {
      const padded = new Uint8Array(length);
      padded.set(report);
      report = padded;
    }
    if ((target === 'shutdownDelay' || target === 'startupDelay' || target === 'rebootDelay') && value < 0) {
      // -1 means "no countdown" on the wire, whatever physical scaling the field declares (CyberPower's minutes).
      // An unsigned field cannot say it: all ones would be a real (long) delay, so refuse.
      if (!isSigned(field)) {
        throw new UpsfleetError(
          'SOURCE_COMMAND_UNSUPPORTED',
          `${field.path} cannot be cancelled (unsigned field)`,
          { path: field.path },
        );
      }
      return encodeLogicalField(report, field, -1);
    }
    return encodeField(report, field, value);
  }
}
