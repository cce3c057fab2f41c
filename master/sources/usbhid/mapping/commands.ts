/**
 * NUT instant commands and writable variables as writes of Feature fields. A command becomes a plan:
 * field writes (and pauses) that the source carries out against the device, in order.
 */
import type { ReportField } from '../hid/report-descriptor.js';

export type PlanStep = { kind: 'write'; target: WriteTarget; value: number } | { kind: 'pause'; ms: number };

/** A writable thing the device has, found by path pattern. */
export type WriteTarget =
  | 'shutdownDelay'
  | 'startupDelay'
  | 'rebootDelay'
  | 'beeper'
  | 'test'
  | 'chargeLow'
  | 'runtimeLow';

export const WRITE_TARGET_PATTERNS: Record<WriteTarget, string[]> = {
  shutdownDelay: [
    'PowerSummary.DelayBeforeShutdown',
    'Output.DelayBeforeShutdown',
    'Outlet.DelayBeforeShutdown',
    'DelayBeforeShutdown',
  ],
  startupDelay: [
    'PowerSummary.DelayBeforeStartup',
    'Output.DelayBeforeStartup',
    'Outlet.DelayBeforeStartup',
    'DelayBeforeStartup',
  ],
  // ff86007c: APC's vendor reboot delay, the only shutdown control of Back-UPS CS models.
  rebootDelay: [
    'PowerSummary.DelayBeforeReboot',
    'Output.DelayBeforeReboot',
    'Outlet.DelayBeforeReboot',
    'DelayBeforeReboot',
    'ff86007c',
  ],
  beeper: ['PowerSummary.AudibleAlarmControl', 'UPS.AudibleAlarmControl', 'AudibleAlarmControl'],
  test: ['Battery.Test', 'BatterySystem.Test', 'Output.Test', 'Test'],
  chargeLow: [
    'PowerSummary.RemainingCapacityLimit',
    'Battery.RemainingCapacityLimit',
    'RemainingCapacityLimit',
  ],
  runtimeLow: ['PowerSummary.RemainingTimeLimit', 'Battery.RemainingTimeLimit', 'RemainingTimeLimit'],
};

/** NUT waits this long between the two delays of shutdown.return so slow firmware takes both. */
export const SHUTDOWN_STEP_PAUSE_MS = 125;

export interface CommandDelays {
  offDelay: number;
  onDelay: number;
}

interface CommandDef {
  /** Whether the device has what the command needs. */
  supported(has: (t: WriteTarget) => boolean): boolean;
  plan(delays: CommandDelays, param: number | undefined, has: (t: WriteTarget) => boolean): PlanStep[];
}

const write = (target: WriteTarget, value: number): PlanStep => ({ kind: 'write', target, value });
const pause: PlanStep = { kind: 'pause', ms: SHUTDOWN_STEP_PAUSE_MS };
const simple = (
  target: WriteTarget,
  value: (d: CommandDelays, p: number | undefined) => number,
): CommandDef => ({
  supported: (has) => has(target),
  plan: (d, p) => [write(target, value(d, p))],
});

export const COMMANDS: Record<string, CommandDef> = {
  'load.off': simple('shutdownDelay', () => 0),
  'load.on': simple('startupDelay', () => 0),
  'load.off.delay': simple('shutdownDelay', (d, p) => p ?? d.offDelay),
  'load.on.delay': simple('startupDelay', (d, p) => p ?? d.onDelay),
  'shutdown.reboot': simple('rebootDelay', (d) => d.offDelay),
  // Cut the load after a delay and restore it when mains return. Best means first: arm the restart then the
  // cut; else the reboot delay (off, then on once power is back); else the cut alone (the UPS's own
  // auto-restart brings the load back, as on APC Back-UPS).
  'shutdown.return': {
    supported: (has) => has('shutdownDelay') || has('rebootDelay'),
    plan: (d, _p, has) => {
      if (has('startupDelay') && has('shutdownDelay'))
        return [write('startupDelay', d.onDelay), pause, write('shutdownDelay', d.offDelay)];
      if (has('rebootDelay')) return [write('rebootDelay', d.offDelay)];
      return [write('shutdownDelay', d.offDelay)];
    },
  },
  'shutdown.stayoff': {
    supported: (has) => has('shutdownDelay') && has('startupDelay'),
    plan: (d) => [write('startupDelay', -1), pause, write('shutdownDelay', d.offDelay)],
  },
  'shutdown.stop': {
    supported: (has) => has('shutdownDelay') || has('rebootDelay'),
    plan: (_d, _p, has) => [write(has('shutdownDelay') ? 'shutdownDelay' : 'rebootDelay', -1)],
  },
  'beeper.disable': simple('beeper', () => 1),
  'beeper.enable': simple('beeper', () => 2),
  'beeper.mute': simple('beeper', () => 3),
  'test.battery.start.quick': simple('test', () => 1),
  'test.battery.start.deep': simple('test', () => 2),
  'test.battery.stop': simple('test', () => 3),
};

/** Writable NUT variables backed by a device field. ups.delay.* are driver settings, not fields. */
export const WRITABLE_FIELDS: Record<string, WriteTarget> = {
  'battery.charge.low': 'chargeLow',
  'battery.runtime.low': 'runtimeLow',
};

export function isWritableFeature(field: ReportField): boolean {
  return field.type === 'Feature';
}
