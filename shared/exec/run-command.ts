/**
 * Runs one external command (a hook, the notify command, the power-off command) and reports how it
 * ended. A string runs through the system shell, an argv array runs directly. The command gets its
 * own process group so a timeout kills everything it started, not just the shell.
 * Never throws: a command that cannot start comes back with `spawnError`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type Clock, systemClock } from '../clock.js';

export type Command = string | readonly string[];

export interface RunCommandOptions {
  /** Kill the whole process group after this long; undefined = no limit. */
  timeoutMs?: number;
  /** Extra environment variables, added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Bytes kept of stdout and of stderr each; the rest is dropped and flagged. */
  maxOutputBytes?: number;
  /** After a timeout: SIGTERM first, SIGKILL if the group is still alive after this grace. */
  killGraceMs?: number;
  /** Called as soon as the process exists (the power-off path acts on this). */
  onSpawn?: (pid: number) => void;
  clock?: Clock;
}

export interface CommandResult {
  /** null when killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  outputTruncated: boolean;
  /** Set when the command could not be started at all (ENOENT, EACCES, ...). */
  spawnError?: string;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024;
const DEFAULT_KILL_GRACE_MS = 2_000;
/** After the process exited, how long we wait for its pipes to close (a background child may hold them). */
const PIPE_DRAIN_MS = 100;

export function commandSucceeded(r: CommandResult): boolean {
  return r.exitCode === 0 && !r.timedOut && r.spawnError === undefined;
}

/** A short human description: "exit 0", "exit 3", "killed by SIGTERM after timeout", "could not start: ...". */
export function describeResult(r: CommandResult): string {
  if (r.spawnError !== undefined) return `could not start: ${r.spawnError}`;
  if (r.timedOut) return `timed out after ${r.durationMs} ms${r.signal ? ` (killed by ${r.signal})` : ''}`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exit ${r.exitCode}`;
}

export function formatCommand(command: Command): string {
  return typeof command === 'string' ? command : command.join(' ');
}

function spawnCommand(command: Command, opts: RunCommandOptions): ChildProcess {
  const isWindows = process.platform === 'win32';
  const common = {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    // detached = own process group on POSIX, so process.kill(-pid) reaches grandchildren
    detached: !isWindows,
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  };
  if (typeof command === 'string') {
    return isWindows
      ? spawn(process.env.ComSpec ?? 'cmd.exe', ['/d', '/s', '/c', `"${command}"`], {
          ...common,
          windowsVerbatimArguments: true,
        })
      : spawn('/bin/sh', ['-c', command], common);
  }
  const [file, ...args] = command;
  if (file === undefined) throw new Error('empty argv');
  return spawn(file, args, common);
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid === undefined) return;
  try {
    if (process.platform === 'win32') {
      spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true }).on(
        'error',
        () => child.kill(),
      );
    } else {
      process.kill(-pid, signal);
    }
  } catch {
    // the group is already gone (ESRCH) or not ours: fall back to the direct child
    try {
      child.kill(signal);
    } catch {
      /* already dead */
    }
  }
}

class BoundedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function runCommand(command: Command, opts: RunCommandOptions = {}): Promise<CommandResult> {
  const clock = opts.clock ?? systemClock;
  const started = clock.now();
  const maxBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const stdout = new BoundedBuffer(maxBytes);
  const stderr = new BoundedBuffer(maxBytes);

  return new Promise<CommandResult>((resolve) => {
    let child: ChildProcess;
    try {
      child = spawnCommand(command, opts);
    } catch (err) {
      resolve(result(null, null, false, (err as Error).message));
      return;
    }

    let timedOut = false;
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const timers: { cancel(): void }[] = [];

    function result(
      exitCode: number | null,
      signal: NodeJS.Signals | null,
      timedOutFlag: boolean,
      spawnError?: string,
    ): CommandResult {
      return {
        exitCode,
        signal,
        durationMs: Math.max(0, clock.now() - started),
        timedOut: timedOutFlag,
        stdout: stdout.text(),
        stderr: stderr.text(),
        outputTruncated: stdout.truncated || stderr.truncated,
        ...(spawnError !== undefined ? { spawnError } : {}),
      };
    }

    function finish(spawnError?: string): void {
      if (settled) return;
      settled = true;
      for (const t of timers) t.cancel();
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result(exit?.code ?? null, exit?.signal ?? null, timedOut, spawnError));
    }

    child.stdout?.on('data', (c: Buffer) => stdout.push(c));
    child.stderr?.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err) => {
      // 'error' without a pid means it never started; otherwise it is a kill failure, ignore it
      if (child.pid === undefined) finish(err.message);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // a timed-out command's leftovers (children that survived SIGTERM) go too
      if (timedOut) killTree(child, 'SIGKILL');
      // wait a little for the pipes, but never for a background grandchild that inherited them
      timers.push(clock.setTimer(PIPE_DRAIN_MS, () => finish()));
    });
    child.on('close', () => {
      if (exit) finish();
    });

    if (child.pid !== undefined) opts.onSpawn?.(child.pid);

    if (opts.timeoutMs !== undefined) {
      timers.push(
        clock.setTimer(opts.timeoutMs, () => {
          if (exit || settled) return;
          timedOut = true;
          killTree(child, 'SIGTERM');
          timers.push(
            clock.setTimer(opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS, () => {
              if (!exit) killTree(child, 'SIGKILL');
            }),
          );
        }),
      );
    }
  });
}
