/**
 * Runs the shutdown hooks in order, each with its own timeout. A failed or timed-out hook is logged
 * and counted but never stops the later hooks: the machine must go down regardless.
 * In a drill, hooks not marked drillSafe are skipped (reported as `skipped`); a guest preset runs in a
 * drill too and only lists what it would stop. A preset reports each guest as progress of its hook.
 */
import { type Clock, systemClock } from '../clock.js';
import type { GuestHookSpec, HookSpec } from '../config/resolved.js';
import type { ErrorCode } from '../errors.js';
import { type GuestReport, type GuestRunResult, stopGuests } from '../guests/stop-guests.js';
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
  /** A guest preset's news about one guest (the hook itself is still `started`). */
  guest?: GuestReport;
}

export interface HookOutcome {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  durationMs: number;
  /** HOOK_FAILED or HOOK_TIMEOUT when the hook failed. */
  errorCode?: ErrorCode;
  result?: CommandResult;
  /** A guest preset: the last news of each guest (in a drill, what it would stop). */
  guests?: GuestReport[];
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
  /** Where guest presets record what they stopped, for their restart (the agent's state directory). */
  stateDir?: string;
  /** Seam for tests; defaults to stopGuests. */
  stopGuests?: typeof stopGuests;
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
    if (hook.guests) {
      const outcome = await runGuestHook(hook, opts, clock, log, (guest) =>
        report({ index, of, name: hook.name, status: 'started', guest }),
      );
      outcomes.push(outcome);
      report({ index, of, name: hook.name, status: outcome.status, durationMs: outcome.durationMs });
      continue;
    }
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

/** The last news of each guest, in the order they were first reported. */
function lastNews(reports: readonly GuestReport[]): GuestReport[] {
  const byGuest = new Map<string, GuestReport>();
  for (const r of reports) byGuest.set(`${r.kind}/${r.name}`, r);
  return [...byGuest.values()];
}

/** A guest preset as one hook: its own per-guest deadline logic, bounded here by the hook's timeout. */
async function runGuestHook(
  hook: GuestHookSpec,
  opts: RunHooksOptions,
  clock: Clock,
  log: Logger,
  onGuest: (g: GuestReport) => void,
): Promise<HookOutcome> {
  const started = clock.now();
  const seen: GuestReport[] = [];
  let timer: { cancel(): void } | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimer(hook.timeoutMs, () => resolve('timeout'));
  });
  const run = (opts.stopGuests ?? stopGuests)(hook.guests, {
    logger: log,
    drill: opts.drill === true,
    timeoutMs: hook.timeoutMs,
    clock,
    onGuest: (g) => {
      seen.push(g);
      onGuest(g);
    },
    ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
    ...(opts.run ? { run: opts.run } : {}),
  }).catch(
    (err: unknown): GuestRunResult => ({
      ok: false,
      guests: [],
      listError: err instanceof Error ? err.message : String(err),
      durationMs: clock.now() - started,
    }),
  );
  const result = await Promise.race([run, timedOut]);
  timer?.cancel();
  const durationMs = clock.now() - started;
  const guests = lastNews(seen);
  if (result === 'timeout') {
    log.error(
      { code: 'HOOK_TIMEOUT', durationMs, guests },
      'guest preset ran past its timeout; continuing (its commands end within their own limits)',
    );
    return { name: hook.name, status: 'failed', durationMs, errorCode: 'HOOK_TIMEOUT', guests };
  }
  const fields = {
    durationMs,
    guests: guests.map(
      (g) => `${g.name} ${g.state}${g.durationMs !== undefined ? ` ${g.durationMs}ms` : ''}`,
    ),
  };
  if (result.ok) {
    log.info(fields, opts.drill ? 'drill: guest preset listed its guests' : 'guest preset ok');
    return { name: hook.name, status: 'ok', durationMs, guests };
  }
  log.error(
    { ...fields, listError: result.listError, code: 'HOOK_FAILED' },
    'guest preset failed; continuing',
  );
  return { name: hook.name, status: 'failed', durationMs, errorCode: 'HOOK_FAILED', guests };
}
