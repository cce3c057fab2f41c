/**
 * Runs the shutdown hooks in order, each with its own timeout. A failed or timed-out hook is logged
 * and counted but never stops the later hooks: the machine must go down regardless.
 * In a drill, hooks not marked drillSafe are skipped (reported as `skipped`).
 */
import { type Clock, systemClock } from '../clock.js';
import type { HookSpec } from '../config/resolved.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { type CommandResult, describeResult, runCommand } from './run-command.js';

export type HookStatus = 'started' | 'ok' | 'failed' | 'skipped';

export interface HookProgress {
  /** 1-based position of the hook ("hook 2 of 5"). */
  index: number;
  of: number;
  name: string;
  status: HookStatus;
  /** Present on ok / failed / skipped. */
  durationMs?: number;
}

export interface HookOutcome {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  durationMs: number;
  /** HOOK_FAILED or HOOK_TIMEOUT when the hook failed. */
  errorCode?: ErrorCode;
  result?: CommandResult;
}

export interface HookRunSummary {
  outcomes: HookOutcome[];
  failures: number;
  durationMs: number;
}

export interface RunHooksOptions {
  logger: Logger;
  /** Drill: only drillSafe hooks run. */
  drill?: boolean;
  onProgress?: (p: HookProgress) => void;
  /** Extra environment for every hook (e.g. UPSFLEET_ORDER_ID). */
  env?: Record<string, string>;
  clock?: Clock;
  /** Seam for tests; defaults to runCommand. */
  run?: typeof runCommand;
}

/** The hook's own output, trimmed for one log line. */
function tail(text: string, max = 2_000): string {
  const t = text.trimEnd();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

export async function runHooks(hooks: readonly HookSpec[], opts: RunHooksOptions): Promise<HookRunSummary> {
  const run = opts.run ?? runCommand;
  const of = hooks.length;
  const outcomes: HookOutcome[] = [];
  const clock = opts.clock ?? systemClock;
  const startedAll = clock.now();
  const report = (p: HookProgress) => {
    try {
      opts.onProgress?.(p);
    } catch (err) {
      // a broken progress sink (socket gone) must not stop the shutdown
      opts.logger.warn({ err }, 'hook progress callback failed');
    }
  };

  for (const [i, hook] of hooks.entries()) {
    const index = i + 1;
    const log = opts.logger.child({ hook: hook.name, index, of });
    if (opts.drill && !hook.drillSafe) {
      log.info('drill: hook skipped (not drillSafe)');
      outcomes.push({ name: hook.name, status: 'skipped', durationMs: 0 });
      report({ index, of, name: hook.name, status: 'skipped', durationMs: 0 });
      continue;
    }
    report({ index, of, name: hook.name, status: 'started' });
    log.info({ timeoutMs: hook.timeoutMs }, 'hook started');
    const result = await run(hook.run, {
      timeoutMs: hook.timeoutMs,
      ...(opts.env ? { env: opts.env } : {}),
      clock,
    });
    const ok = result.exitCode === 0 && !result.timedOut && result.spawnError === undefined;
    const fields = {
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: result.durationMs,
      timedOut: result.timedOut,
      stdout: tail(result.stdout),
      stderr: tail(result.stderr),
    };
    if (ok) {
      log.info(fields, 'hook ok');
      outcomes.push({ name: hook.name, status: 'ok', durationMs: result.durationMs, result });
    } else {
      const errorCode: ErrorCode = result.timedOut ? 'HOOK_TIMEOUT' : 'HOOK_FAILED';
      log.error({ ...fields, code: errorCode }, `hook failed: ${describeResult(result)}; continuing`);
      outcomes.push({ name: hook.name, status: 'failed', durationMs: result.durationMs, errorCode, result });
    }
    report({ index, of, name: hook.name, status: ok ? 'ok' : 'failed', durationMs: result.durationMs });
  }

  return {
    outcomes,
    failures: outcomes.filter((o) => o.status === 'failed').length,
    durationMs: clock.now() - startedAll,
  };
}
