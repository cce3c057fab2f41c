/**
 * A guest preset as the hook runner uses it: durations in ms, defaults applied, the target it acts on
 * (libvirt URI, container engine and user, Proxmox kinds) and a stable key that names its restart record.
 * Also the checks the schema cannot express (forceAfter below the timeout), reported at their line.
 */

import type { AgentHookConfig, GuestPresetConfig } from '../config/guest-schema.js';
import { isGuestPreset } from '../config/guest-schema.js';
import { parseDuration } from '../duration.js';

/** A preset's default budget: inside the default step deadline (3m) with room for the power-off. */
export const DEFAULT_GUEST_TIMEOUT_MS = 120_000;
/** How long before the timeout a guest that has not stopped is forced, by default. */
const DEFAULT_FORCE_MARGIN_MS = 15_000;

export type RestartMode = 'no' | 'on-line' | 'on-start';

export type GuestTarget =
  | { preset: 'libvirt'; uri: string; command: string }
  | { preset: 'docker' | 'podman'; command: string; user?: string; host?: string }
  | { preset: 'proxmox'; kinds: Array<'qm' | 'pct'> };

export interface GuestPresetSpec {
  target: GuestTarget;
  /** Names the restart record: the preset and what it acts on (`libvirt qemu:///system`, `podman alice`). */
  key: string;
  forceAfterMs: number;
  /** Stop phases: each a list of patterns; the guests no phase names go last, together. */
  order: string[][];
  exclude: string[];
  restart: RestartMode;
  sudo: boolean;
}

export function targetKey(t: GuestTarget): string {
  switch (t.preset) {
    case 'libvirt':
      return `libvirt ${t.uri}`;
    case 'proxmox':
      return `proxmox ${[...t.kinds].sort().join('+')}`;
    default:
      return [t.preset, t.user ?? '', t.host ?? ''].join(' ').trimEnd();
  }
}

export function defaultForceAfterMs(timeoutMs: number): number {
  return Math.max(Math.floor(timeoutMs / 2), timeoutMs - DEFAULT_FORCE_MARGIN_MS);
}

function forceAfterOf(h: GuestPresetConfig): string | number | undefined {
  return h.forceAfter ?? (h.preset === 'libvirt' ? h.destroyAfter : undefined);
}

export function presetTimeoutMs(h: GuestPresetConfig, where: string): number {
  return h.timeout === undefined ? DEFAULT_GUEST_TIMEOUT_MS : parseDuration(h.timeout, `${where}/timeout`);
}

export function resolveGuestPreset(h: GuestPresetConfig, where: string): GuestPresetSpec {
  const timeoutMs = presetTimeoutMs(h, where);
  const force = forceAfterOf(h);
  const target: GuestTarget =
    h.preset === 'libvirt'
      ? { preset: 'libvirt', uri: h.uri ?? 'qemu:///system', command: h.command ?? 'virsh' }
      : h.preset === 'proxmox'
        ? { preset: 'proxmox', kinds: [...new Set(h.kinds ?? (['qm', 'pct'] as const))] }
        : {
            preset: h.preset,
            command: h.command ?? h.preset,
            ...(h.user !== undefined ? { user: h.user } : {}),
            ...(h.host !== undefined ? { host: h.host } : {}),
          };
  const restart = h.restartAfterPower;
  return {
    target,
    key: targetKey(target),
    forceAfterMs:
      force === undefined ? defaultForceAfterMs(timeoutMs) : parseDuration(force, `${where}/forceAfter`),
    order: (h.order ?? []).map((e) => (typeof e === 'string' ? [e] : [...e])),
    exclude: [...(h.exclude ?? [])],
    restart: restart === true ? 'on-line' : restart === false || restart === undefined ? 'no' : restart,
    sudo: h.sudo ?? false,
  };
}

/** What a preset's title is when the config gives it no name. */
export function presetTitle(h: GuestPresetConfig): string {
  const spec = resolveGuestPreset(h, '');
  return `stop ${spec.key}`.slice(0, 128);
}

/** Checks across settings of the agent's hooks (the schema checked each setting alone). */
export function guestHookProblems(
  hooks: readonly AgentHookConfig[] | undefined,
): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const keys = new Map<string, number>();
  (hooks ?? []).forEach((h, i) => {
    if (!isGuestPreset(h)) return;
    const at = `/hooks/${i}`;
    if (h.preset === 'libvirt' && h.forceAfter !== undefined && h.destroyAfter !== undefined) {
      problems.push({
        path: `${at}/destroyAfter`,
        message: 'give either destroyAfter or forceAfter (the same setting), not both',
      });
      return;
    }
    let timeoutMs: number;
    let spec: GuestPresetSpec;
    try {
      timeoutMs = presetTimeoutMs(h, at);
      spec = resolveGuestPreset(h, at);
    } catch {
      return; // a malformed duration is the schema's to report
    }
    const forceName = h.preset === 'libvirt' && h.destroyAfter !== undefined ? 'destroyAfter' : 'forceAfter';
    if (forceAfterOf(h) !== undefined && spec.forceAfterMs >= timeoutMs) {
      problems.push({
        path: `${at}/${forceName}`,
        message: `must be less than the preset's timeout (${timeoutMs / 1000}s): a guest that does not stop by itself is forced within the timeout`,
      });
    }
    if (h.preset !== 'libvirt' && h.preset !== 'proxmox' && h.user !== undefined && h.host !== undefined) {
      problems.push({
        path: `${at}/host`,
        message: `give either user (rootless ${h.preset} of that user) or host (a daemon's address), not both`,
      });
    }
    const earlier = keys.get(spec.key);
    if (earlier !== undefined) {
      problems.push({
        path: `${at}/preset`,
        message: `acts on the same guests as /hooks/${earlier} (${spec.key}): one preset per target`,
      });
    }
    keys.set(spec.key, i);
  });
  return problems;
}
