/**
 * A guest preset at work: list the running guests, leave out the excluded, stop them phase by phase
 * (the configured order, then every other guest at once), each asked to shut down by itself and forced
 * when its time is up, every step reported per guest. In a drill it only lists what it would stop.
 * With restartAfterPower, what it stops is recorded first (guest-record.ts) for the restart.
 */
import { type Clock, systemClock } from '../clock.js';
import type { Logger } from '../logger.js';
import { ContainerDriver } from './container-driver.js';
import { type Guest, type GuestDriver, GuestToolError, type RunFn, ToolRunner } from './guest-driver.js';
import { addToRecord } from './guest-record.js';
import type { GuestPresetSpec, GuestTarget } from './guest-spec.js';
import { LibvirtDriver } from './libvirt-driver.js';
import { ProxmoxDriver } from './proxmox-driver.js';

/**
 * One guest's news: `stopping` (asked), `stopped` (off by itself), `forced` (destroyed or killed after
 * forceAfter), `failed` (still running, or the tool failed), `would-stop` (a drill); after power
 * returns `started`, `already-running` or `start-failed`.
 */
export type GuestState =
  | 'stopping'
  | 'stopped'
  | 'forced'
  | 'failed'
  | 'would-stop'
  | 'started'
  | 'already-running'
  | 'start-failed';

export interface GuestReport {
  name: string;
  kind: string;
  state: GuestState;
  /** From the stop (or start) request to this news. */
  durationMs?: number;
  /** The tool's own words when it failed. */
  error?: string;
}

export interface GuestRunResult {
  ok: boolean;
  guests: GuestReport[];
  /** Listing failed: nothing was stopped. */
  listError?: string;
  durationMs: number;
}

export interface GuestRunOptions {
  logger: Logger;
  drill: boolean;
  /** The preset's whole budget (the hook's timeout). */
  timeoutMs: number;
  onGuest?: (r: GuestReport) => void;
  /** Where the restart record goes (the agent's state directory); none: no record. */
  stateDir?: string;
  clock?: Clock;
  /** Seams for tests. */
  run?: RunFn;
  driver?: GuestDriver;
  env?: Record<string, string>;
}

/** A guest that has not stopped by itself is forced this long before the preset's timeout at the latest. */
function forceReserveMs(timeoutMs: number): number {
  return Math.min(10_000, Math.floor(timeoutMs / 10));
}

export function driverFor(
  target: GuestTarget,
  opts: { sudo: boolean; logger: Logger; clock?: Clock; run?: RunFn; env?: Record<string, string> },
): GuestDriver {
  const tool = new ToolRunner({
    sudo: opts.sudo,
    timeoutMs: 30_000,
    logger: opts.logger,
    ...(target.preset === 'docker' || target.preset === 'podman'
      ? target.user !== undefined
        ? { user: target.user }
        : {}
      : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.run ? { run: opts.run } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  switch (target.preset) {
    case 'libvirt':
      return new LibvirtDriver(tool, target.uri, target.command);
    case 'proxmox':
      return new ProxmoxDriver(tool, target.kinds);
    default:
      return new ContainerDriver(tool, target.command, target.host);
  }
}

/** Shell-style pattern (`*`, `?`) matched against the whole name. */
export function matches(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(name);
}

function matchesAny(patterns: readonly string[], g: Guest): boolean {
  return patterns.some((p) => matches(p, g.name) || matches(p, g.id));
}

/** The guests in their stop phases: each configured entry in turn, then the rest together. */
export function phases(guests: readonly Guest[], order: readonly string[][]): Guest[][] {
  const left = [...guests];
  const out: Guest[][] = [];
  for (const entry of order) {
    const phase = left.filter((g) => matchesAny(entry, g));
    if (phase.length === 0) continue;
    out.push(phase);
    for (const g of phase) left.splice(left.indexOf(g), 1);
  }
  if (left.length > 0) out.push(left);
  return out;
}

export async function stopGuests(spec: GuestPresetSpec, opts: GuestRunOptions): Promise<GuestRunResult> {
  const clock = opts.clock ?? systemClock;
  const started = clock.now();
  const deadline = started + opts.timeoutMs;
  const log = opts.logger.child({ preset: spec.key });
  const reports: GuestReport[] = [];
  const report = (r: GuestReport) => {
    reports.push(r);
    try {
      opts.onGuest?.(r);
    } catch (err) {
      log.warn({ err }, 'guest progress callback failed');
    }
  };
  const driver =
    opts.driver ??
    driverFor(spec.target, {
      sudo: spec.sudo,
      logger: log,
      clock,
      ...(opts.run ? { run: opts.run } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    });

  let running: Guest[];
  try {
    running = await driver.list();
  } catch (err) {
    const listError = err instanceof GuestToolError ? err.message : String(err);
    log.error({ code: 'GUEST_LIST_FAILED', err: listError }, 'could not list the running guests');
    return { ok: false, guests: reports, listError, durationMs: clock.now() - started };
  }
  const excluded = running.filter((g) => matchesAny(spec.exclude, g));
  const guests = running.filter((g) => !excluded.includes(g));
  const plan = phases(guests, spec.order);
  log.info(
    {
      guests: plan.map((p) => p.map((g) => g.name)),
      excluded: excluded.map((g) => g.name),
      drill: opts.drill,
    },
    opts.drill ? 'drill: guests that would be stopped' : 'stopping guests',
  );

  if (opts.drill) {
    for (const g of plan.flat()) report({ name: g.name, kind: g.kind, state: 'would-stop' });
    return { ok: true, guests: reports, durationMs: clock.now() - started };
  }

  if (spec.restart !== 'no' && opts.stateDir !== undefined && guests.length > 0) {
    try {
      addToRecord(
        opts.stateDir,
        { key: spec.key, target: spec.target, restart: spec.restart, sudo: spec.sudo },
        guests,
        clock.now(),
      );
    } catch (err) {
      // the guests still go down: the host must; only their restart is lost
      log.error({ err, code: 'GUEST_RECORD_FAILED' }, 'could not record the guests for their restart');
    }
  }

  const reserve = forceReserveMs(opts.timeoutMs);
  const stopOne = async (g: Guest): Promise<void> => {
    const asked = clock.now();
    report({ name: g.name, kind: g.kind, state: 'stopping' });
    const graceMs = Math.max(0, Math.min(spec.forceAfterMs, deadline - reserve - asked));
    const attempt = await driver.shutdown(g, graceMs);
    if (attempt.off) {
      const state = attempt.forced ? 'forced' : 'stopped';
      log.info({ guest: g.name, state, durationMs: clock.now() - asked }, `guest ${state}`);
      report({ name: g.name, kind: g.kind, state, durationMs: clock.now() - asked });
      return;
    }
    log.warn(
      { guest: g.name, graceMs, error: attempt.error },
      'guest did not stop by itself in time: forcing it',
    );
    const forced = await driver.force(g);
    const durationMs = clock.now() - asked;
    if (forced.off) {
      log.warn({ guest: g.name, durationMs }, 'guest forced off');
      report({ name: g.name, kind: g.kind, state: 'forced', durationMs });
    } else {
      const error = (forced.error ?? attempt.error ?? 'still running').slice(0, 300);
      log.error(
        { guest: g.name, durationMs, error, code: 'GUEST_STOP_FAILED' },
        'guest could not be stopped',
      );
      report({ name: g.name, kind: g.kind, state: 'failed', durationMs, error });
    }
  };
  for (const phase of plan) await Promise.all(phase.map(stopOne));

  const failed = reports.filter((r) => r.state === 'failed').length;
  return { ok: failed === 0, guests: reports, durationMs: clock.now() - started };
}
