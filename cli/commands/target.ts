/**
 * `upsfleet target test ID [-c FILE] [--json]`: checks an SSH target of the master config without shutting
 * anything down: its SSH port answers, its host key is the pinned one (refused otherwise, nothing sent), the
 * key logs in, and the command is allowed: for `sudo ... CMD`, `sudo -n -l CMD` (sudo lists the command
 * when a rule allows it without a password, and runs nothing); otherwise that the program exists.
 */
import { parseArgs } from 'node:util';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import type { SshTargetSpec } from '../../shared/config/ssh-target-settings.js';
import { type ErrorCode, isUpsfleetError, UpsfleetError } from '../../shared/errors.js';
import { type CommandHandler, ExitCodes } from './command.js';

const USAGE = `usage: upsfleet target test ID [-c FILE] [--json]
  checks the SSH target ID of the master configuration FILE (default /etc/upsfleet/master.yaml or
  UPSFLEET_MASTER_CONFIG): its port answers, its host key is the pinned one, the key logs in, and the
  command is allowed (sudo -n -l for a sudo command); nothing is shut down (docs/SSH-TARGETS.md)
  exit 0 all good, 1 host key refused or the program missing, 2 usage or unknown ID, 3 configuration
  invalid or key unreadable, 4 unreachable, 6 login refused or the sudo rule missing
`;

export interface TargetCheck {
  name: 'reachable' | 'host-key' | 'login' | 'command';
  ok: boolean;
  detail: string;
  code?: ErrorCode;
}

/** The sudo options that take a value (sudo(8)). */
const SUDO_OPTS_WITH_VALUE = new Set(['-u', '-g', '-C', '-D', '-p', '-r', '-t', '-U', '-h', '-R', '-T']);

/**
 * What checks the command without running it: `sudo -n -l [opts] CMD ARGS` for a sudo command (sudo then
 * only lists it); `command -v PROGRAM` otherwise. Null when the command is empty after sudo.
 */
export function commandCheck(command: string): { check: string; sudo: boolean } | null {
  const words = command.trim().split(/\s+/);
  const first = words[0] ?? '';
  if (first !== 'sudo' && !first.endsWith('/sudo')) {
    if (!first) return null;
    return { check: `command -v ${first}`, sudo: false };
  }
  const opts: string[] = [];
  let i = 1;
  while (i < words.length && words[i]!.startsWith('-')) {
    const w = words[i]!;
    if (w === '--') {
      i++;
      break;
    }
    if (SUDO_OPTS_WITH_VALUE.has(w)) {
      opts.push(w, words[i + 1] ?? '');
      i += 2;
      continue;
    }
    if (w !== '-n' && w !== '-l' && w !== '--non-interactive') opts.push(w);
    i++;
  }
  const rest = words.slice(i);
  if (rest.length === 0) return null;
  return { check: [first, '-n', '-l', ...opts, ...rest].join(' '), sudo: true };
}

export async function testTarget(target: SshTargetSpec): Promise<{ checks: TargetCheck[]; exit: number }> {
  const { tcpProbe } = await import('../../master/ssh/unreachable-watch.js');
  const { ssh2Connector } = await import('../../master/ssh/ssh-client.js');
  const checks: TargetCheck[] = [];
  const t0 = Date.now();
  const port = await tcpProbe(target.host, target.port, target.connectTimeoutMs);
  if (port !== 'open') {
    checks.push({
      name: 'reachable',
      ok: false,
      code: 'SSH_UNREACHABLE',
      detail: `${target.host}:${target.port} ${port === 'refused' ? 'refused the connection' : port === 'timeout' ? `did not answer in ${target.connectTimeoutMs} ms` : 'has no route'}`,
    });
    return { checks, exit: ExitCodes.UNREACHABLE };
  }
  checks.push({
    name: 'reachable',
    ok: true,
    detail: `${target.host}:${target.port} answers (${Date.now() - t0} ms)`,
  });
  let conn: Awaited<ReturnType<typeof ssh2Connector>>;
  try {
    conn = await ssh2Connector(target);
  } catch (err) {
    const code: ErrorCode = isUpsfleetError(err) ? err.code : 'SSH_UNREACHABLE';
    const message = (err as Error).message;
    if (code === 'SSH_HOST_KEY_MISMATCH') {
      checks.push({ name: 'host-key', ok: false, code, detail: message });
      return { checks, exit: ExitCodes.FAILURE };
    }
    // a refused login comes after the key exchange: the host key was the pinned one
    if (code === 'SSH_AUTH_FAILED')
      checks.push({ name: 'host-key', ok: true, detail: `matches the pin ${target.hostKey.fingerprint}` });
    checks.push({ name: 'login', ok: false, code, detail: message });
    const exit =
      code === 'SSH_AUTH_FAILED'
        ? ExitCodes.PERMISSION
        : code === 'SSH_KEY_UNREADABLE'
          ? ExitCodes.CONFIG
          : ExitCodes.UNREACHABLE;
    return { checks, exit };
  }
  try {
    checks.push({
      name: 'host-key',
      ok: true,
      detail: `${conn.hostKey.type ?? ''} ${conn.hostKey.fingerprint} matches the pin`.trim(),
    });
    checks.push({ name: 'login', ok: true, detail: `${target.user} logged in with ${target.keyFile}` });
    const plan = commandCheck(target.command);
    if (!plan) {
      checks.push({ name: 'command', ok: false, code: 'SSH_COMMAND_FAILED', detail: 'the command is empty' });
      return { checks, exit: ExitCodes.FAILURE };
    }
    const r = await conn.exec(plan.check);
    const out = (r.stdout.trim() || r.stderr.trim()).split('\n').slice(-3).join(' / ');
    if (r.code === 0) {
      checks.push({
        name: 'command',
        ok: true,
        detail: plan.sudo
          ? `sudo allows it without a password (${plan.check}: ${out})`
          : `${plan.check}: ${out} (no sudo in the command)`,
      });
      return { checks, exit: ExitCodes.OK };
    }
    checks.push({
      name: 'command',
      ok: false,
      code: 'SSH_COMMAND_FAILED',
      detail: `${plan.check} exited ${r.code ?? r.signal ?? 'without a status'}${out ? `: ${out}` : ''}${plan.sudo ? ' (no sudo rule allows the command without a password: see docs/SSH-TARGETS.md)' : ''}`,
    });
    return { checks, exit: plan.sudo ? ExitCodes.PERMISSION : ExitCodes.FAILURE };
  } finally {
    conn.close();
  }
}

export const targetCommand: CommandHandler = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub !== 'test') {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  let values: { config?: string; json?: boolean };
  let ids: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values;
    ids = parsed.positionals;
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${USAGE}`);
    return ExitCodes.USAGE;
  }
  if (ids.length !== 1) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  const file = values.config ?? process.env.UPSFLEET_MASTER_CONFIG ?? '/etc/upsfleet/master.yaml';
  const settings = loadMasterSettings(file);
  const target = settings.sshTargets.find((t) => t.id === ids[0]);
  if (!target) {
    const known = settings.sshTargets.map((t) => t.id);
    const err = new UpsfleetError(
      'TARGET_UNKNOWN',
      `${file}: no SSH target "${ids[0]}" (${known.length > 0 ? `known: ${known.join(', ')}` : 'sshTargets: is empty'})`,
    );
    io.stderr(`upsfleet target: ${err.message} [${err.code}]\n`);
    return ExitCodes.USAGE;
  }
  const { checks, exit } = await testTarget(target);
  if (values.json) {
    io.stdout(
      `${JSON.stringify({ target: target.id, address: `${target.user}@${target.host}:${target.port}`, ok: exit === 0, checks }, null, 2)}\n`,
    );
  } else {
    io.stdout(
      `SSH target ${target.id} (${target.user}@${target.host}:${target.port}, group ${target.group})\n`,
    );
    for (const c of checks)
      io.stdout(
        `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(9)} ${c.detail}${c.code && !c.ok ? ` [${c.code}]` : ''}\n`,
      );
    io.stdout(exit === 0 ? 'ready: nothing was shut down\n' : 'not ready: nothing was shut down\n');
  }
  return exit;
};
