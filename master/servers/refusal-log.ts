/**
 * Log lines for refused or closed connections, rate-limited with counters: an attacker opening 1,000
 * connections a second must not write 1,000 warn lines a second (the journal and the disk are shared
 * with the shutdown path). The first refusal of a kind is logged at once; after that at most one line
 * per interval per kind, carrying how many were refused since the last line (`since`) and in total
 * (`total`), and the fields of the latest one. Nothing is lost: `counts()` feeds /status and metrics.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../shared/clock.js';

export const REFUSAL_LOG_INTERVAL_MS = 10_000;

interface KindState {
  total: number;
  since: number;
  lastLogAt: number | null;
}

export class RefusalLog {
  private readonly kinds = new Map<string, KindState>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  /** Counts one refusal of `kind`; logs it (warn) when the last line of this kind is old enough. */
  note(kind: string, fields: Record<string, unknown>, message: string): void {
    let k = this.kinds.get(kind);
    if (!k) {
      k = { total: 0, since: 0, lastLogAt: null };
      this.kinds.set(kind, k);
    }
    k.total++;
    k.since++;
    const now = this.clock.now();
    if (k.lastLogAt !== null && now - k.lastLogAt < this.intervalMs) return;
    this.logger.warn({ ...fields, refusal: kind, since: k.since, total: k.total }, message);
    k.lastLogAt = now;
    k.since = 0;
  }

  /** Refusals so far by kind. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.kinds].map(([kind, k]) => [kind, k.total]));
  }
}
