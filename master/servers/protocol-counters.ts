/** Counts of rejected inbound messages by error code, for /status and /metrics. */
import type { ErrorCode } from '../../shared/errors.js';

export class RejectionCounters {
  private readonly counts = new Map<ErrorCode, number>();

  add(code: ErrorCode): number {
    const n = (this.counts.get(code) ?? 0) + 1;
    this.counts.set(code, n);
    return n;
  }

  total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
