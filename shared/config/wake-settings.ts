/** An early group's `wake:` section resolved: durations in ms, MACs normalized, the broadcast target split. */
import type { Static } from '@sinclair/typebox';
import { parseDuration } from '../duration.js';
import { normalizeMac } from '../net/mac.js';
import type { WakeConfig } from './master-schema.js';
import { commandArgv } from './resolved.js';

export const DEFAULT_WAKE_AFTER_ONLINE_MS = 120_000;
export const DEFAULT_WAKE_TIMEOUT_MS = 30_000;
export const DEFAULT_WOL_ADDRESS = '255.255.255.255';
export const DEFAULT_WOL_PORT = 9;

export interface WakeSpec {
  afterOnlineMs: number;
  /** 0: no minimum. */
  minCharge: number;
  /** Where magic packets go; null: Wake-on-LAN off. */
  wol: { address: string; port: number } | null;
  /** Agent id -> MAC (lower case, colons), from the config. */
  macs: Record<string, string>;
  command: string | string[] | null;
  timeoutMs: number;
}

export function resolveWake(w: Static<typeof WakeConfig>, where: string): WakeSpec {
  const [address, port] = (w.broadcast ?? DEFAULT_WOL_ADDRESS).split(':');
  return {
    afterOnlineMs:
      w.afterOnline === undefined
        ? DEFAULT_WAKE_AFTER_ONLINE_MS
        : parseDuration(w.afterOnline, `${where}/afterOnline`),
    minCharge: w.minCharge ?? 0,
    wol:
      w.wol === false
        ? null
        : { address: address ?? DEFAULT_WOL_ADDRESS, port: port ? Number(port) : DEFAULT_WOL_PORT },
    macs: Object.fromEntries(
      Object.entries(w.macs ?? {}).map(([id, mac]) => [id, normalizeMac(mac) ?? mac.toLowerCase()]),
    ),
    command: w.command === undefined ? null : commandArgv(w.command, []),
    timeoutMs:
      w.timeout === undefined ? DEFAULT_WAKE_TIMEOUT_MS : parseDuration(w.timeout, `${where}/timeout`),
  };
}

/** Problems the schema cannot see: wake on a group without its own trigger, a port out of range, a wake that can do nothing. */
export function wakeProblems(
  groups: Record<string, { trigger?: unknown; wake?: Static<typeof WakeConfig> }>,
): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  for (const [name, g] of Object.entries(groups)) {
    const w = g.wake;
    if (!w) continue;
    if (!g.trigger) {
      problems.push({
        path: `/groups/${name}/wake`,
        message: `group "${name}" has no trigger of its own: only an early group is woken (after the fleet sequence, killpower's power cycle brings every host back)`,
      });
    }
    const port = w.broadcast?.includes(':') ? Number(w.broadcast.split(':')[1]) : DEFAULT_WOL_PORT;
    if (port < 1 || port > 65535)
      problems.push({ path: `/groups/${name}/wake/broadcast`, message: `port ${port} is out of range` });
    if (w.wol === false && w.command === undefined)
      problems.push({
        path: `/groups/${name}/wake`,
        message: 'wol is off and there is no command: nothing could wake the hosts',
      });
  }
  return problems;
}
