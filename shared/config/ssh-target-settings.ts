/** The `sshTargets:` section resolved: address split, host key pin parsed, durations in ms, key path absolute. */
import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../duration.js';
import { type PinnedHostKey, parsePinnedHostKey } from '../net/ssh-host-key.js';
import type { SshTargetT } from './ssh-target-schema.js';

export const DEFAULT_SSH_COMMAND = 'sudo -n systemctl poweroff';
export const DEFAULT_SSH_DRILL_COMMAND = 'true';
export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_SSH_UNREACHABLE_FOR_MS = 5_000;
export const DEFAULT_SSH_PROBE_INTERVAL_MS = 60_000;
export const DEFAULT_SSH_CONNECT_TIMEOUT_MS = 10_000;

export interface SshTargetSpec {
  id: string;
  group: string;
  host: string;
  port: number;
  user: string;
  /** Absolute path of the private key file. */
  keyFile: string;
  hostKey: PinnedHostKey;
  command: string;
  drillCommand: string;
  unreachableForMs: number;
  probeIntervalMs: number;
  connectTimeoutMs: number;
}

/** host[:port] or [v6][:port]. */
export function splitSshAddress(address: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : DEFAULT_SSH_PORT };
  const i = address.lastIndexOf(':');
  if (i < 0) return { host: address, port: DEFAULT_SSH_PORT };
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

export function resolveSshTargets(
  targets: ReadonlyArray<SshTargetT> | undefined,
  baseDir: string,
): SshTargetSpec[] {
  return (targets ?? []).map((t, i) => {
    const where = `/sshTargets/${i}`;
    const pin = parsePinnedHostKey(t.hostKey);
    // the consistency check refused a bad pin before we get here
    if ('problem' in pin) throw new Error(`${where}/hostKey ${pin.problem}`);
    const ms = (v: string | number | undefined, fallback: number, key: string) =>
      v === undefined ? fallback : parseDuration(v, `${where}/${key}`);
    return {
      id: t.id,
      group: t.group,
      ...splitSshAddress(t.address),
      user: t.user,
      keyFile: isAbsolute(t.key) ? t.key : resolve(baseDir, t.key),
      hostKey: pin,
      command: t.command ?? DEFAULT_SSH_COMMAND,
      drillCommand: t.drillCommand ?? DEFAULT_SSH_DRILL_COMMAND,
      unreachableForMs: ms(t.unreachableFor, DEFAULT_SSH_UNREACHABLE_FOR_MS, 'unreachableFor'),
      probeIntervalMs: ms(t.probeInterval, DEFAULT_SSH_PROBE_INTERVAL_MS, 'probeInterval'),
      connectTimeoutMs: ms(t.connectTimeout, DEFAULT_SSH_CONNECT_TIMEOUT_MS, 'connectTimeout'),
    };
  });
}

/**
 * What the schema cannot see: a malformed host key, a port out of range, an id used twice or by an agent,
 * a group that never goes down, durations that cannot work.
 */
export function sshTargetProblems(
  targets: ReadonlyArray<SshTargetT>,
  ctx: { agentIds: ReadonlySet<string>; groups: ReadonlySet<string> },
): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const seen = new Set<string>();
  targets.forEach((t, i) => {
    const at = (key: string) => `/sshTargets/${i}/${key}`;
    if (seen.has(t.id)) problems.push({ path: at('id'), message: `target "${t.id}" is listed twice` });
    else if (ctx.agentIds.has(t.id))
      problems.push({ path: at('id'), message: `"${t.id}" is already an agent's id` });
    seen.add(t.id);
    if (!ctx.groups.has(t.group))
      problems.push({
        path: at('group'),
        message: `group "${t.group}" is neither in the sequence nor an early group`,
      });
    const { port } = splitSshAddress(t.address);
    if (!(port >= 1 && port <= 65535))
      problems.push({ path: at('address'), message: `port ${port} is out of range` });
    const pin = parsePinnedHostKey(t.hostKey);
    if ('problem' in pin) problems.push({ path: at('hostKey'), message: pin.problem });
    const ms = (v: string | number | undefined): number | null => {
      try {
        return v === undefined ? null : parseDuration(v);
      } catch {
        return null;
      }
    };
    const unreachable = ms(t.unreachableFor);
    if (unreachable !== null && unreachable < 1000)
      problems.push({
        path: at('unreachableFor'),
        message: 'must be at least 1s: one refused connection during a reboot is not a host that is off',
      });
    const probe = ms(t.probeInterval);
    if (probe !== null && probe < 1000)
      problems.push({ path: at('probeInterval'), message: 'must be at least 1s' });
    const connect = ms(t.connectTimeout);
    if (connect !== null && connect < 100)
      problems.push({ path: at('connectTimeout'), message: 'must be at least 100ms' });
  });
  return problems;
}
