/**
 * Reconnect delays: exponential growth with "full jitter" (a uniform pick in [0, ceiling]), so a
 * fleet that lost its master at the same moment does not reconnect in lockstep.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.random = opts.random ?? Math.random;
  }

  /** The ceiling the next delay is drawn under: initialMs * 2^attempt, capped at maxMs. */
  ceiling(): number {
    const exp = this.opts.initialMs * 2 ** Math.min(this.attempt, 30);
    return Math.min(this.opts.maxMs, Math.max(0, exp));
  }

  /** The next delay, and one step further up the curve. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling());
    this.attempt++;
    return Math.min(this.opts.maxMs, Math.max(0, delay));
  }

  /** The longest delay, for peers we should not hammer (e.g. a refused token). */
  max(): number {
    this.attempt++;
    return this.opts.maxMs;
  }

  /** A connection worked: start again from initialMs. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
