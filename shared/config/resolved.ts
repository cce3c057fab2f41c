/** Pieces of resolved (defaults applied, durations in ms) settings shared by master and agent. */
import type { Static } from '@sinclair/typebox';
import { parseDuration } from '../duration.js';
import type { Command, Hook, Trigger } from './common-schema.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from './defaults.js';

export interface HookSpec {
  name: string;
  run: string | string[];
  timeoutMs: number;
  drillSafe: boolean;
}

export interface TriggerSpec {
  chargeBelow?: number;
  runtimeBelowMs?: number;
  onBatteryForMs?: number;
}

export function resolveHooks(
  hooks: ReadonlyArray<Static<typeof Hook>> | undefined,
  where: string,
): HookSpec[] {
  return (hooks ?? []).map((h, i) => ({
    name: h.name ?? (typeof h.run === 'string' ? h.run : h.run.join(' ')).slice(0, 128),
    run: typeof h.run === 'string' ? h.run : [...h.run],
    timeoutMs:
      h.timeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(h.timeout, `${where}/${i}/timeout`),
    drillSafe: h.drillSafe ?? false,
  }));
}

export function resolveTrigger(t: Static<typeof Trigger> | undefined, where: string): TriggerSpec {
  if (!t) return {};
  const out: TriggerSpec = {};
  if (t.chargeBelow !== undefined) out.chargeBelow = t.chargeBelow;
  if (t.runtimeBelow !== undefined)
    out.runtimeBelowMs = parseDuration(t.runtimeBelow, `${where}/runtimeBelow`);
  if (t.onBatteryFor !== undefined)
    out.onBatteryForMs = parseDuration(t.onBatteryFor, `${where}/onBatteryFor`);
  return out;
}

export function commandArgv(cmd: Static<typeof Command> | undefined, fallback: string[]): string | string[] {
  if (cmd === undefined) return fallback;
  return typeof cmd === 'string' ? cmd : [...cmd];
}
