/**
 * Starts again, after power returns, the guests that guest presets stopped (shared/guests/). It looks
 * at the records in the state directory when the agent starts, and again when a real shutdown ended
 * in dry-run (the host stayed up): a record marked `on-start` restarts at once, one marked `on-line`
 * when a master reports the UPS on line (OL, not OB nor FSD). Never while this host is shutting down. A
 * record claimed by a restart that never finished (the agent died during it) is dropped, not replayed.
 */
import type { Clock } from '../shared/clock.js';
import { dropRecord, listClaimed, listRecords } from '../shared/guests/guest-record.js';
import {
  type RestartOptions,
  type RestartResult,
  restartFromRecord,
} from '../shared/guests/restart-guests.js';
import type { Logger } from '../shared/logger.js';
import { hasStatus } from '../shared/nut/status.js';

export interface GuestRestarterOptions {
  stateDir: string;
  clock: Clock;
  logger: Logger;
  /** The host is going down: no restart now. */
  isShuttingDown: () => boolean;
  /** Seams for tests. */
  restart?: Pick<RestartOptions, 'run' | 'driver' | 'env'>;
  onRestarted?: (r: RestartResult) => void;
}

export class GuestRestarter {
  /** Records waiting for the UPS to be on line. */
  private waitingForLine = new Set<string>();
  private busy: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: GuestRestarterOptions) {}

  /** Looks at the records (agent start, or a dry-run shutdown finished). */
  check(): void {
    if (this.stopped) return;
    for (const claimed of listClaimed(this.opts.stateDir)) {
      this.opts.logger.warn(
        { path: claimed, code: 'GUEST_RECORD_FAILED' },
        'a restart of guests was cut short (the agent stopped during it): its record is dropped, so no guest starts twice',
      );
      dropRecord(claimed);
    }
    for (const { path, record } of listRecords(this.opts.stateDir)) {
      if (!record) {
        this.opts.logger.error({ path, code: 'GUEST_RECORD_FAILED' }, 'unreadable guest record: dropped');
        dropRecord(path);
        continue;
      }
      if (record.restart === 'on-start') this.restart(path);
      else if (!this.waitingForLine.has(path)) {
        this.waitingForLine.add(path);
        this.opts.logger.info(
          { preset: record.key, guests: record.guests.map((g) => g.name) },
          'guests stopped before the last shutdown start again when the UPS is on line',
        );
      }
    }
  }

  /**
   * A master's `ups.status`: on line, neither on battery nor FSD, starts what waits for it. (The master's
   * critical latch is not waited for: it is released only after the run ends, and mains are back already.)
   */
  observeStatus(status: string | undefined): void {
    if (this.waitingForLine.size === 0 || status === undefined) return;
    if (!hasStatus(status, 'OL') || hasStatus(status, 'OB') || hasStatus(status, 'FSD')) return;
    const paths = [...this.waitingForLine];
    this.waitingForLine.clear();
    for (const path of paths) this.restart(path);
  }

  /** Resolves when the restarts under way are done (tests, graceful stop). */
  idle(): Promise<void> {
    return this.busy;
  }

  stop(): void {
    this.stopped = true;
    this.waitingForLine.clear();
  }

  private restart(path: string): void {
    this.busy = this.busy.then(async () => {
      if (this.stopped) return;
      if (this.opts.isShuttingDown()) {
        this.opts.logger.warn({ path }, 'guests not started again: this host is shutting down');
        return;
      }
      const result = await restartFromRecord(path, {
        logger: this.opts.logger,
        clock: this.opts.clock,
        ...this.opts.restart,
      }).catch((err: unknown) => {
        this.opts.logger.error({ err, path, code: 'GUEST_START_FAILED' }, 'restarting guests failed');
        return null;
      });
      if (result) this.opts.onRestarted?.(result);
    });
  }
}
