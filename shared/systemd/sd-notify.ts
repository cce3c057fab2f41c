/**
 * systemd's notify protocol for `Type=notify` units: READY=1 once really ready, WATCHDOG=1 at half of
 * WatchdogSec, STOPPING=1 on the way out, STATUS= for `systemctl status`. Silent when NOTIFY_SOCKET is unset
 * (not under systemd, tests, the demo).
 *
 * Why a child process: the protocol is one datagram on an AF_UNIX SOCK_DGRAM socket, which Node cannot open
 * (node:dgram is UDP only), and every npm package that can (sd-notify, unix-dgram) is a native addon,
 * which the agent must stay free of. So the message is handed to `systemd-notify`, which ships with systemd on
 * every host that has a NOTIFY_SOCKET. Two details make it reliable:
 * - systemd-notify (run directly, not through a shell) sends with its parent's pid as the sender (`--pid` makes
 *   that explicit), which systemd accepts for the main process; the units also say NotifyAccess=all, so a
 *   daemon not running as root (cannot fake the sender) is accepted too;
 * - systemd-notify (systemd >= 246) follows the message with a BARRIER=1 datagram and exits only once the
 *   manager has taken it (up to 5 s), so the message is not dropped when its sender is gone before systemd reads it;
 * - a spawn every WatchdogSec/2 (15 s with the shipped units) costs nothing next to the budget.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../logger.js';

export type SdRunner = (file: string, args: string[], env: NodeJS.ProcessEnv) => Promise<void>;

export interface SdNotifyOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  pid?: number;
  /** Seam for tests: runs the notifier program; default execFile with a 5 s timeout. */
  run?: SdRunner;
  /** The program that sends the datagram. */
  program?: string;
}

const defaultRun: SdRunner = (file, args, env) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 5_000 }, (err) => (err ? reject(err) : resolve()));
  });

export class SdNotify {
  private readonly env: NodeJS.ProcessEnv;
  private readonly pid: number;
  private readonly run: SdRunner;
  private readonly program: string;
  private watchdog: NodeJS.Timeout | null = null;
  private failed = false;

  constructor(private readonly opts: SdNotifyOptions = {}) {
    this.env = opts.env ?? process.env;
    this.pid = opts.pid ?? process.pid;
    this.run = opts.run ?? defaultRun;
    this.program = opts.program ?? 'systemd-notify';
  }

  /** True when started by systemd with a notify socket. */
  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /** The interval at which WATCHDOG=1 is due: half of WATCHDOG_USEC, when the watchdog is meant for us. */
  get watchdogIntervalMs(): number | null {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return null;
    const forPid = this.env.WATCHDOG_PID;
    if (forPid && Number(forPid) !== this.pid) return null;
    return Math.max(1, Math.floor(usec / 2_000));
  }

  /** READY=1 (and a STATUS line), then the watchdog keep-alive when systemd asked for one. */
  async ready(status?: string): Promise<void> {
    await this.send(['READY=1', ...(status ? [`STATUS=${status}`] : [])]);
    const every = this.watchdogIntervalMs;
    if (every !== null && this.watchdog === null) {
      this.watchdog = setInterval(() => void this.send(['WATCHDOG=1']), every);
      this.watchdog.unref();
    }
  }

  async status(text: string): Promise<void> {
    await this.send([`STATUS=${text}`]);
  }

  /** STOPPING=1 and no more watchdog pings. */
  async stopping(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    await this.send(['STOPPING=1']);
  }

  /** Sends assignments; never throws (a notifier problem must not stop a daemon). */
  async send(assignments: string[]): Promise<boolean> {
    if (!this.enabled || this.failed) return false;
    try {
      await this.run(this.program, [`--pid=${this.pid}`, ...assignments], this.env);
      return true;
    } catch (err) {
      // A stop by systemd (restart, stop) sends SIGTERM to every process of the unit's control group, and it
      // keeps signalling processes that appear while it does: the STOPPING=1 notifier spawned in answer to
      // that SIGTERM is one of them. Killed so, it is no fault: systemd already knows the unit is stopping.
      const signal = (err as { signal?: string | null }).signal;
      if (signal && assignments.includes('STOPPING=1')) {
        this.opts.logger?.debug(
          { signal, program: this.program },
          'STOPPING=1 not sent: the notifier was signalled (the unit is stopping)',
        );
        return false;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      // without the program every later message would fail the same way: say it once
      if (missing) this.failed = true;
      this.opts.logger?.warn(
        { err: (err as Error).message, program: this.program, assignments },
        missing
          ? 'NOTIFY_SOCKET is set but systemd-notify is not installed: systemd notifications are off'
          : 'systemd notification failed',
      );
      return false;
    }
  }
}
