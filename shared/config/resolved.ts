/** Pieces of resolved (defaults applied, durations in ms) settings shared by master and agent. */
import type { Static } from '@sinclair/typebox';
import { parseDuration } from '../duration.js';
import {
  type GuestPresetSpec,
  presetTimeoutMs,
  presetTitle,
  resolveGuestPreset,
} from '../guests/guest-spec.js';
import type { Command, Hook, Trigger } from './common-schema.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from './defaults.js';
import { type AgentHookConfig, isGuestPreset } from './guest-schema.js';

/** A hook: a command, or a guest preset (agent only, shared/guests/). */
export type HookSpec = CommandHookSpec | GuestHookSpec;

export interface CommandHookSpec {
  name: string;
  run: string | string[];
  timeoutMs: number;
  drillSafe: boolean;
  guests?: undefined;
}

/** A guest preset: in a drill it runs too, and only lists what it would stop. */
export interface GuestHookSpec {
  name: string;
  timeoutMs: number;
  drillSafe: true;
  guests: GuestPresetSpec;
  run?: undefined;
}

export interface TriggerSpec {
  chargeBelow?: number;
  runtimeBelowMs?: number;
  onBatteryForMs?: number;
}

export function resolveHooks(
  hooks: ReadonlyArray<Static<typeof Hook> | AgentHookConfig> | undefined,
  where: string,
): HookSpec[] {
  return (hooks ?? []).map((h, i): HookSpec => {
    if (isGuestPreset(h))
      return {
        name: h.name ?? presetTitle(h),
        timeoutMs: presetTimeoutMs(h, `${where}/${i}`),
        drillSafe: true,
        guests: resolveGuestPreset(h, `${where}/${i}`),
      };
    return {
      name: h.name ?? (typeof h.run === 'string' ? h.run : h.run.join(' ')).slice(0, 128),
      run: typeof h.run === 'string' ? h.run : [...h.run],
      timeoutMs:
        h.timeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(h.timeout, `${where}/${i}/timeout`),
      drillSafe: h.drillSafe ?? false,
    };
  });
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
