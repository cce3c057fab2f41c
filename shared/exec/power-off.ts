/**
 * The last step on a machine: power it off, or in dry-run write a marker file saying we would have.
 * The decision is logged and flushed BEFORE anything else: buffered log lines are lost in a power
 * cut (pino docs/asynchronous.md), and this is the line an operator looks for afterwards.
 */
import { writeSync } from 'node:fs';
import { type Clock, systemClock } from '../clock.js';
import { writeFileAtomic } from '../fs/atomic-file.js';
import type { Logger } from '../logger.js';
import {
  type Command,
  type CommandResult,
  commandSucceeded,
  describeResult,
  formatCommand,
  runCommand,
} from './run-command.js';

export interface PowerOffOptions {
  command: Command;
  dryRun: boolean;
  /** Dry-run marker file path. */
  marker: string;
  logger: Logger;
  /** Why we go down, for the log and the marker. */
  reason: string;
  orderId?: string | null;
  /** When the order that led here arrived (epoch ms), recorded in the dry-run marker. */
  orderReceivedAt?: number | null;
  /** Who goes down (agent id, or the master's id). */
  id: string;
  /** Called right after the power-off command started (the agent closes its socket then). */
  onStarted?: () => void;
  /** Kill the power-off command if it has not returned after this long (it normally returns at once). */
  timeoutMs?: number;
  clock?: Clock;
  /** Seam for tests; defaults to runCommand. */
  run?: typeof runCommand;
}

export interface PowerOffMarker {
  ts: number;
  iso: string;
  id: string;
  reason: string;
  orderId: string | null;
  /** When the order arrived (epoch ms): lets a drill or test prove the order of a fleet shutdown from markers alone. */
  orderReceivedAt: number | null;
  /** The command a real run would have executed. */
  command: Command;
  dryRun: true;
}

export type PowerOffResult =
  | { dryRun: true; ok: boolean; marker: string; error?: string }
  | { dryRun: false; ok: boolean; result: CommandResult };

const DEFAULT_POWER_OFF_TIMEOUT_MS = 60_000;
const FLUSH_CAP_MS = 2_000;

/** Waits until pino has handed everything to the OS (no-op for sync destinations), never longer than a cap. */
export function flushLogger(logger: Logger, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => {
    const cap = clock.setTimer(FLUSH_CAP_MS, resolve);
    try {
      logger.flush((_err?: Error) => {
        cap.cancel();
        resolve();
      });
    } catch {
      cap.cancel();
      resolve();
    }
  });
}

export async function powerOff(opts: PowerOffOptions): Promise<PowerOffResult> {
  const clock = opts.clock ?? systemClock;
  const now = clock.now();
  const orderId = opts.orderId ?? null;
  const commandText = formatCommand(opts.command);
  const log = opts.logger;

  if (opts.dryRun) {
    log.warn(
      { id: opts.id, reason: opts.reason, orderId, command: commandText, marker: opts.marker, dryRun: true },
      `dry-run: would power off now (${commandText}); writing marker instead`,
    );
    await flushLogger(log, clock);
    const marker: PowerOffMarker = {
      ts: now,
      iso: new Date(now).toISOString(),
      id: opts.id,
      reason: opts.reason,
      orderId,
      orderReceivedAt: opts.orderReceivedAt ?? null,
      command: typeof opts.command === 'string' ? opts.command : [...opts.command],
      dryRun: true,
    };
    try {
      writeFileAtomic(opts.marker, `${JSON.stringify(marker, null, 2)}\n`);
      log.info({ marker: opts.marker }, 'dry-run: marker written; this machine would now be down');
      return { dryRun: true, ok: true, marker: opts.marker };
    } catch (err) {
      log.error(
        { err, marker: opts.marker, code: 'SHUTDOWN_COMMAND_FAILED' },
        'dry-run: cannot write the marker',
      );
      return { dryRun: true, ok: false, marker: opts.marker, error: (err as Error).message };
    }
  }

  log.warn(
    { id: opts.id, reason: opts.reason, orderId, command: commandText },
    `powering off now: ${commandText}`,
  );
  await flushLogger(log, clock);
  // a last plain line on stderr, written synchronously: journald keeps it even if the log file is lost
  try {
    writeSync(2, `upsfleet: ${opts.id} powering off now (${opts.reason}): ${commandText}\n`);
  } catch {
    /* stderr closed: nothing more we can do */
  }

  const run = opts.run ?? runCommand;
  const result = await run(opts.command, {
    timeoutMs: opts.timeoutMs ?? DEFAULT_POWER_OFF_TIMEOUT_MS,
    clock,
    onSpawn: () => {
      try {
        opts.onStarted?.();
      } catch (err) {
        log.warn({ err }, 'power-off onStarted callback failed');
      }
    },
  });
  const ok = commandSucceeded(result);
  if (ok) {
    log.info({ durationMs: result.durationMs }, 'power-off command accepted; waiting for the OS to stop');
  } else {
    log.error(
      {
        code: 'SHUTDOWN_COMMAND_FAILED',
        exitCode: result.exitCode,
        signal: result.signal,
        stderr: result.stderr.trim(),
      },
      `power-off command failed: ${describeResult(result)}`,
    );
  }
  await flushLogger(log, clock);
  return { dryRun: false, ok, result };
}
