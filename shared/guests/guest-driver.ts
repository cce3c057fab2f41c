/**
 * What a guest preset needs from a virtualisation or container tool: list the running guests, ask one
 * to stop and wait, force it, start it again. One driver per tool (libvirt, docker/podman, proxmox);
 * every command goes through shared/exec's runCommand as an argv (never a shell string: a guest's name
 * is only ever one argument), with a timeout that kills its process group and bounded output.
 */
import { type Clock, systemClock } from '../clock.js';
import { type CommandResult, describeResult, runCommand } from '../exec/run-command.js';
import type { Logger } from '../logger.js';

export interface Guest {
  /** What the tool's commands take: libvirt domain name, container ID, Proxmox VMID. */
  id: string;
  /** What people call it (container name, VM name). */
  name: string;
  /** vm, container, qm, pct. */
  kind: string;
}

export interface StopAttempt {
  /** The guest is off. */
  off: boolean;
  /** It went off only because the tool killed it (a container's stop -t ran out). */
  forced?: boolean;
  error?: string;
}

export interface GuestDriver {
  /** The running guests; throws a GuestToolError when the tool cannot say. */
  list(): Promise<Guest[]>;
  /** Ask the guest to shut down by itself and wait up to graceMs for it to be off. */
  shutdown(g: Guest, graceMs: number): Promise<StopAttempt>;
  /** Stop it now (virsh destroy, qm stop). */
  force(g: Guest): Promise<StopAttempt>;
  start(g: Guest): Promise<{ ok: boolean; error?: string }>;
}

export class GuestToolError extends Error {
  constructor(
    message: string,
    readonly result?: CommandResult,
  ) {
    super(message);
  }
}

export type RunFn = typeof runCommand;

/** Runs a tool's commands: sudo or another user's session when configured, each bounded in time. */
export interface ToolRunnerOptions {
  /** Prefix `sudo -n`. */
  sudo: boolean;
  /** Run as this user with its XDG_RUNTIME_DIR (rootless containers). */
  user?: string;
  /** Per command, unless the call says otherwise. */
  timeoutMs: number;
  env?: Record<string, string>;
  clock?: Clock;
  logger: Logger;
  run?: RunFn;
}

export class ToolRunner {
  private account: Promise<{ uid: string; home: string }> | null = null;
  private readonly run: RunFn;

  constructor(private readonly opts: ToolRunnerOptions) {
    this.run = opts.run ?? runCommand;
  }

  get clock(): Clock {
    return this.opts.clock ?? systemClock;
  }

  /** Runs argv (as the configured user / through sudo); never throws. */
  async exec(argv: readonly string[], timeoutMs = this.opts.timeoutMs): Promise<CommandResult> {
    const full = await this.wrap(argv);
    const result = await this.run(full, {
      timeoutMs: Math.max(1, timeoutMs),
      clock: this.clock,
      ...(this.opts.env ? { env: this.opts.env } : {}),
    });
    this.opts.logger.debug(
      { argv: full, exitCode: result.exitCode, durationMs: result.durationMs, timedOut: result.timedOut },
      'guest tool command',
    );
    return result;
  }

  /** Runs argv and returns its stdout, or throws GuestToolError with the tool's own words. */
  async output(argv: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.exec(argv, timeoutMs);
    if (r.exitCode === 0 && !r.timedOut && r.spawnError === undefined) return r.stdout;
    throw new GuestToolError(`${argv.join(' ')}: ${failure(r)}`, r);
  }

  private async wrap(argv: readonly string[]): Promise<string[]> {
    const { user, sudo } = this.opts;
    if (user === undefined) return sudo ? ['sudo', '-n', ...argv] : [...argv];
    const { uid, home } = await this.userAccount(user);
    const env = ['env', `XDG_RUNTIME_DIR=/run/user/${uid}`, `HOME=${home}`];
    // root becomes the user without a password; anyone else needs a sudoers rule for it
    if (!sudo && process.getuid?.() === 0) return ['runuser', '-u', user, '--', ...env, ...argv];
    return ['sudo', '-n', '-u', user, '--', ...env, ...argv];
  }

  private userAccount(user: string): Promise<{ uid: string; home: string }> {
    this.account ??= (async () => {
      const r = await this.run(['getent', 'passwd', user], { timeoutMs: 5_000, clock: this.clock });
      const fields = r.exitCode === 0 ? r.stdout.trim().split(':') : [];
      const uid = fields[2];
      if (uid === undefined || !/^\d+$/.test(uid)) {
        this.account = null;
        throw new GuestToolError(`no such user: ${user} (getent passwd ${user}: ${failure(r)})`, r);
      }
      return { uid, home: fields[5] || '/' };
    })();
    return this.account;
  }
}

/** The tool's own error line when it gave one, else how the command ended. */
export function failure(r: CommandResult): string {
  const said = r.stderr.trim().split('\n').filter(Boolean).at(-1) ?? r.stdout.trim().split('\n').at(-1);
  const how = describeResult(r);
  return said ? `${said.slice(0, 300)} (${how})` : how;
}

export function succeeded(r: CommandResult): boolean {
  return r.exitCode === 0 && !r.timedOut && r.spawnError === undefined;
}

/** Resolves after ms on the given clock. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}
