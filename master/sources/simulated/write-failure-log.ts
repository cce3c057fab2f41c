/**
 * Reports a file that cannot be written without flooding the log: a full or read-only disk fails every
 * write, and the simulated UPS writes on every change. One error when writes start failing, then at most
 * one per interval while they go on failing, and one line when they work again.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../../shared/clock.js';

export const WRITE_FAILURE_LOG_INTERVAL_MS = 60_000;

export class WriteFailureLog {
  private failingSince: number | null = null;
  private lastLoggedAt = 0;
  private failuresNotLogged = 0;

  constructor(
    private readonly path: string,
    private readonly what: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs = WRITE_FAILURE_LOG_INTERVAL_MS,
  ) {}

  failed(err: unknown): void {
    const now = this.clock.now();
    const errno = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    if (this.failingSince !== null && now - this.lastLoggedAt < this.intervalMs) {
      this.failuresNotLogged++;
      return;
    }
    this.logger.error(
      {
        err,
        path: this.path,
        errno,
        ...(this.failingSince !== null
          ? {
              failingSince: new Date(this.failingSince).toISOString(),
              failuresNotLogged: this.failuresNotLogged,
            }
          : {}),
      },
      `cannot write the ${this.what}; the simulated UPS goes on from memory`,
    );
    this.failingSince ??= now;
    this.lastLoggedAt = now;
    this.failuresNotLogged = 0;
  }

  succeeded(): void {
    if (this.failingSince === null) return;
    this.logger.info(
      { path: this.path, failingSince: new Date(this.failingSince).toISOString() },
      `the ${this.what} can be written again`,
    );
    this.failingSince = null;
    this.failuresNotLogged = 0;
  }
}
