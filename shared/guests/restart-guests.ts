/**
 * After power returns: start again the guests a preset recorded when it stopped them. The record is
 * claimed first and removed after, so it starts its guests at most once; a guest already running (the
 * tool's own autostart, a person) is left alone and reported `already-running`.
 */
import { type Clock, systemClock } from '../clock.js';
import type { Logger } from '../logger.js';
import { type GuestDriver, GuestToolError, type RunFn } from './guest-driver.js';
import { claimRecord, dropRecord, type GuestRecord } from './guest-record.js';
import { driverFor, type GuestReport } from './stop-guests.js';

export interface RestartResult {
  key: string;
  guests: GuestReport[];
  ok: boolean;
}

export interface RestartOptions {
  logger: Logger;
  clock?: Clock;
  onGuest?: (r: GuestReport) => void;
  run?: RunFn;
  env?: Record<string, string>;
  /** Seam for tests. */
  driver?: (record: GuestRecord) => GuestDriver;
}

/** Claims the record at `path` and starts its guests; null when another restart had claimed it. */
export async function restartFromRecord(path: string, opts: RestartOptions): Promise<RestartResult | null> {
  const clock = opts.clock ?? systemClock;
  const claim = claimRecord(path);
  if (!claim) return null;
  const { record, claimed } = claim;
  try {
    if (!record) {
      opts.logger.error({ path, code: 'GUEST_RECORD_FAILED' }, 'unreadable guest record: dropped');
      return { key: '', guests: [], ok: false };
    }
    const log = opts.logger.child({ preset: record.key });
    const driver =
      opts.driver?.(record) ??
      driverFor(record.target, {
        sudo: record.sudo,
        logger: log,
        clock,
        ...(opts.run ? { run: opts.run } : {}),
        ...(opts.env ? { env: opts.env } : {}),
      });
    const reports: GuestReport[] = [];
    const report = (r: GuestReport) => {
      reports.push(r);
      opts.onGuest?.(r);
    };
    let running: Set<string> | null = null;
    try {
      running = new Set((await driver.list()).map((g) => `${g.kind}/${g.id}`));
    } catch (err) {
      // start them anyway: a start of a running guest fails harmlessly
      log.warn(
        { err: err instanceof GuestToolError ? err.message : String(err) },
        'could not list guests before restarting',
      );
    }
    log.info(
      { guests: record.guests.map((g) => g.name), stoppedAt: record.stoppedAt },
      'power is back: starting the guests stopped before the shutdown',
    );
    for (const g of record.guests) {
      if (running?.has(`${g.kind}/${g.id}`)) {
        report({ name: g.name, kind: g.kind, state: 'already-running', durationMs: 0 });
        continue;
      }
      const t0 = clock.now();
      const r = await driver.start(g);
      const durationMs = clock.now() - t0;
      if (r.ok) {
        log.info({ guest: g.name, durationMs }, 'guest started');
        report({ name: g.name, kind: g.kind, state: 'started', durationMs });
      } else {
        log.error(
          { guest: g.name, durationMs, error: r.error, code: 'GUEST_START_FAILED' },
          'guest could not be started',
        );
        report({
          name: g.name,
          kind: g.kind,
          state: 'start-failed',
          durationMs,
          ...(r.error ? { error: r.error.slice(0, 300) } : {}),
        });
      }
    }
    return { key: record.key, guests: reports, ok: reports.every((r) => r.state !== 'start-failed') };
  } finally {
    dropRecord(claimed);
  }
}
