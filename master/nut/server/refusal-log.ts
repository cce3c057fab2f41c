/**
 * Refusals (connections over a limit, failed logins, logins in clear) logged without flooding: the
 * first of each kind at once, then at most one line per kind a minute carrying how many were refused
 * since the last line and in all. A flood of refusals costs a counter, not a log line each.
 */
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';

export const REFUSAL_LOG_INTERVAL_MS = 60_000;

interface Count {
  total: number;
  sinceLogged: number;
  loggedAt: number;
}

export class RefusalLog {
  private readonly counts = new Map<string, Count>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  /** One refusal of `kind`; `fields` describe this one (logged only when a line is due). */
  refused(kind: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = this.clock.now();
    const c = this.counts.get(kind) ?? { total: 0, sinceLogged: 0, loggedAt: Number.NEGATIVE_INFINITY };
    c.total++;
    c.sinceLogged++;
    this.counts.set(kind, c);
    if (now - c.loggedAt < this.intervalMs) return;
    this.logger.warn({ refusal: kind, ...fields, refused: c.sinceLogged, refusedTotal: c.total }, message);
    c.sinceLogged = 0;
    c.loggedAt = now;
  }

  /** Refusals so far, by kind. */
  totals(): Record<string, number> {
    return Object.fromEntries([...this.counts].map(([k, c]) => [k, c.total]));
  }
}
