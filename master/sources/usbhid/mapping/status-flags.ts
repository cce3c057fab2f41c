/**
 * `ups.status` from the PresentStatus booleans of the Power Device / Battery System tables.
 * OL/OB from ACPresent (no ACPresent but Discharging means OB), LB from BelowRemainingCapacityLimit,
 * RemainingTimeLimitExpired or ShutdownImminent, RB from NeedReplacement or a missing battery, and so on.
 */
import { formatStatus } from '../../../../shared/nut/status.js';

/** Where a status boolean may live, best first. */
export function flagPatterns(usage: string): string[] {
  return [
    `PowerSummary.PresentStatus.${usage}`,
    `PowerSummary.${usage}`,
    `Battery.PresentStatus.${usage}`,
    `PresentStatus.${usage}`,
    usage,
  ];
}

export const STATUS_FLAGS = [
  'ACPresent',
  'Charging',
  'Discharging',
  'BelowRemainingCapacityLimit',
  'RemainingTimeLimitExpired',
  'ShutdownImminent',
  'NeedReplacement',
  'BatteryPresent',
  'Overload',
  'Boost',
  'Buck',
  'SwitchOnOff',
] as const;

export type StatusFlag = (typeof STATUS_FLAGS)[number];
export type FlagValues = Partial<Record<StatusFlag, boolean>>;

export interface StatusOptions {
  /** NUT's ignorelb: drop the device's LB; the caller adds LB from charge/runtime thresholds. */
  ignoreDeviceLowBattery?: boolean;
  /** Extra tokens a vendor rule derived (e.g. OFF from Eaton's Good bit). */
  extra?: Iterable<string>;
}

/**
 * The status tokens of the flags that were read, and only those: OL/OB come from ACPresent, else from
 * Discharging; with neither read there is no OL and no OB (a shutdown controller must not claim "on line"
 * from nothing). Empty when nothing was read.
 */
export function deriveStatus(flags: FlagValues, opts: StatusOptions = {}): string {
  const tokens = new Set<string>();
  if (flags.ACPresent !== undefined) tokens.add(flags.ACPresent ? 'OL' : 'OB');
  else if (flags.Discharging !== undefined) tokens.add(flags.Discharging ? 'OB' : 'OL');
  if (flags.Charging) tokens.add('CHRG');
  if (flags.Discharging) tokens.add('DISCHRG');
  const deviceLow =
    flags.BelowRemainingCapacityLimit || flags.RemainingTimeLimitExpired || flags.ShutdownImminent;
  if (deviceLow && !opts.ignoreDeviceLowBattery) tokens.add('LB');
  if (flags.NeedReplacement || flags.BatteryPresent === false) tokens.add('RB');
  if (flags.Overload) tokens.add('OVER');
  if (flags.Boost) tokens.add('BOOST');
  if (flags.Buck) tokens.add('TRIM');
  if (flags.SwitchOnOff === false) tokens.add('OFF');
  for (const t of opts.extra ?? []) tokens.add(t);
  return formatStatus(tokens);
}
