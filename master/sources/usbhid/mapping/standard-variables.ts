/**
 * The standard Power Device mapping: which usage paths answer which NUT variable, best path first.
 * Derived from the HID Power Device usage tables only, so any UPS that follows the standard gets these
 * variables without a vendor table. Vendor tables (vendor-tables.ts) add rules or override these by name.
 */
import type { ReportField } from '../hid/report-descriptor.js';

export interface VariableContext {
  /** Another variable's raw number (before formatting), for rules that depend on each other. */
  number(name: string): number | undefined;
}

export interface VariableRule {
  name: string;
  /** Path suffix patterns, best first (see path-match.ts). */
  paths: string[];
  /** Turns the physical value into the upsc text; undefined drops the variable (e.g. an overflowed runtime). */
  format?: (value: number, field: ReportField, ctx: VariableContext) => string | undefined;
}

const UNIT_KELVIN = 0x00010001;
const UNIT_AMPERE_SECOND = 0x00101001;

export function formatPlain(value: number, decimals = 1): string {
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(decimals);
}

/** HID ManufacturerDate: (year - 1980) << 9 | month << 5 | day. */
export function formatHidDate(value: number): string | undefined {
  const day = value & 0x1f;
  const month = (value >> 5) & 0x0f;
  const year = 1980 + (value >> 9);
  if (day < 1 || day > 31 || month < 1 || month > 12) return undefined;
  return `${year}/${String(month).padStart(2, '0')}/${String(day).padStart(2, '0')}`;
}

function temperature(value: number, field: ReportField): string {
  // Kelvin fields (and firmware that reports Kelvin without the unit) become degrees Celsius, as NUT shows them.
  const celsius = field.unit === UNIT_KELVIN || value > 200 ? value - 273.15 : value;
  return formatPlain(Number(celsius.toFixed(1)));
}

/** All-ones or negative: the "no value" or overflow markers firmware puts in a runtime or timer field. */
export function isOverflow(value: number, field: ReportField): boolean {
  return value < 0 || (field.logicalMin >= 0 && value === 2 ** field.bitSize - 1 && field.bitSize >= 8);
}

/** Capacities in mAh/mWh/A·s become a percentage of the full-charge capacity (CapacityMode other than 2). */
function capacityPercent(value: number, field: ReportField, ctx: VariableContext): string | undefined {
  const mode = ctx.number('hid.capacity.mode');
  const inPercent = mode === 2 || (mode === undefined && field.unit !== UNIT_AMPERE_SECOND && value <= 100);
  if (inPercent) return formatPlain(value);
  const full = ctx.number('hid.capacity.full') ?? ctx.number('hid.capacity.design');
  if (!full || full <= 0) return undefined;
  return formatPlain(Math.max(0, Math.min(100, Math.round((value * 100) / full))));
}

function timer(value: number, field: ReportField): string {
  return isOverflow(value, field) ? '-1' : formatPlain(value);
}

const BEEPER: Record<number, string> = { 1: 'disabled', 2: 'enabled', 3: 'muted' };
const TEST_RESULT: Record<number, string> = {
  1: 'Done and passed',
  2: 'Done and warning',
  3: 'Done and error',
  4: 'Aborted',
  5: 'In progress',
  6: 'No test initiated',
};

/** Internal helpers (not published): inputs to other rules. */
export const HELPER_RULES: VariableRule[] = [
  { name: 'hid.capacity.mode', paths: ['PowerSummary.CapacityMode', 'Battery.CapacityMode', 'CapacityMode'] },
  {
    name: 'hid.capacity.full',
    paths: ['PowerSummary.FullChargeCapacity', 'Battery.FullChargeCapacity', 'FullChargeCapacity'],
  },
  {
    name: 'hid.capacity.design',
    paths: ['PowerSummary.DesignCapacity', 'Battery.DesignCapacity', 'DesignCapacity'],
  },
];

export const STANDARD_RULES: VariableRule[] = [
  {
    name: 'battery.charge',
    paths: ['PowerSummary.RemainingCapacity', 'Battery.RemainingCapacity', 'RemainingCapacity'],
    format: capacityPercent,
  },
  {
    name: 'battery.charge.low',
    paths: [
      'PowerSummary.RemainingCapacityLimit',
      'Battery.RemainingCapacityLimit',
      'RemainingCapacityLimit',
    ],
    format: capacityPercent,
  },
  {
    name: 'battery.charge.warning',
    paths: ['PowerSummary.WarningCapacityLimit', 'Battery.WarningCapacityLimit', 'WarningCapacityLimit'],
    format: capacityPercent,
  },
  {
    name: 'battery.runtime',
    paths: ['PowerSummary.RunTimeToEmpty', 'Battery.RunTimeToEmpty', 'RunTimeToEmpty'],
    format: (v, f) => (isOverflow(v, f) ? undefined : formatPlain(Math.round(v))),
  },
  {
    name: 'battery.runtime.low',
    paths: ['PowerSummary.RemainingTimeLimit', 'Battery.RemainingTimeLimit', 'RemainingTimeLimit'],
    format: (v, f) => (isOverflow(v, f) ? undefined : formatPlain(Math.round(v))),
  },
  { name: 'battery.voltage', paths: ['Battery.Voltage', 'PowerSummary.Voltage', 'BatterySystem.Voltage'] },
  { name: 'battery.voltage.nominal', paths: ['Battery.ConfigVoltage', 'PowerSummary.ConfigVoltage'] },
  {
    name: 'battery.temperature',
    paths: ['Battery.Temperature', 'BatterySystem.Temperature'],
    format: temperature,
  },
  {
    name: 'battery.mfr.date',
    paths: ['Battery.ManufacturerDate', 'PowerSummary.ManufacturerDate'],
    format: (v) => formatHidDate(v),
  },
  { name: 'ups.mfr.date', paths: ['UPS.ManufacturerDate'], format: (v) => formatHidDate(v) },
  { name: 'input.voltage', paths: ['Input.Voltage'] },
  { name: 'input.voltage.nominal', paths: ['Input.ConfigVoltage', 'Flow.ConfigVoltage'] },
  { name: 'input.frequency', paths: ['Input.Frequency'] },
  { name: 'input.frequency.nominal', paths: ['Input.ConfigFrequency', 'Flow.ConfigFrequency'] },
  { name: 'input.current', paths: ['Input.Current'] },
  { name: 'input.transfer.low', paths: ['Input.LowVoltageTransfer', 'Output.LowVoltageTransfer'] },
  { name: 'input.transfer.high', paths: ['Input.HighVoltageTransfer', 'Output.HighVoltageTransfer'] },
  { name: 'output.voltage', paths: ['Output.Voltage', 'Outlet.Voltage'] },
  { name: 'output.voltage.nominal', paths: ['Output.ConfigVoltage'] },
  { name: 'output.frequency', paths: ['Output.Frequency'] },
  { name: 'output.frequency.nominal', paths: ['Output.ConfigFrequency'] },
  { name: 'output.current', paths: ['Output.Current'] },
  {
    name: 'ups.load',
    paths: [
      'Output.PercentLoad',
      'PowerConverter.PercentLoad',
      'Outlet.PercentLoad',
      'PowerSummary.PercentLoad',
    ],
    format: (v) => formatPlain(Math.round(v)),
  },
  { name: 'ups.realpower', paths: ['Output.ActivePower', 'Outlet.ActivePower', 'PowerSummary.ActivePower'] },
  {
    name: 'ups.power',
    paths: ['Output.ApparentPower', 'Outlet.ApparentPower', 'PowerSummary.ApparentPower'],
  },
  {
    name: 'ups.realpower.nominal',
    paths: [
      'Output.ConfigActivePower',
      'PowerConverter.ConfigActivePower',
      'Flow.ConfigActivePower',
      'ConfigActivePower',
    ],
  },
  {
    name: 'ups.power.nominal',
    paths: ['Output.ConfigApparentPower', 'Flow.ConfigApparentPower', 'ConfigApparentPower'],
  },
  {
    name: 'ups.temperature',
    paths: ['PowerSummary.Temperature', 'UPS.Temperature', 'PowerConverter.Temperature'],
    format: temperature,
  },
  {
    name: 'ups.timer.shutdown',
    paths: [
      'PowerSummary.DelayBeforeShutdown',
      'Output.DelayBeforeShutdown',
      'Outlet.DelayBeforeShutdown',
      'DelayBeforeShutdown',
    ],
    format: timer,
  },
  {
    name: 'ups.timer.start',
    paths: [
      'PowerSummary.DelayBeforeStartup',
      'Output.DelayBeforeStartup',
      'Outlet.DelayBeforeStartup',
      'DelayBeforeStartup',
    ],
    format: timer,
  },
  {
    name: 'ups.timer.reboot',
    paths: [
      'PowerSummary.DelayBeforeReboot',
      'Output.DelayBeforeReboot',
      'Outlet.DelayBeforeReboot',
      'DelayBeforeReboot',
    ],
    format: timer,
  },
  {
    name: 'ups.beeper.status',
    paths: ['PowerSummary.AudibleAlarmControl', 'UPS.AudibleAlarmControl', 'AudibleAlarmControl'],
    format: (v) => BEEPER[v],
  },
  {
    name: 'ups.test.result',
    paths: ['Battery.Test', 'BatterySystem.Test', 'Output.Test', 'Test'],
    format: (v) => TEST_RESULT[v],
  },
];
