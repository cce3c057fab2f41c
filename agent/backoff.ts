/**
 * Reconnect delays: exponential growth with "full jitter" (a uniform pick in [0, ceiling]), so a
 * fleet that lost its master at the same moment does not reconnect in lockstep.
 *
 * Two things bound it beyond the configured initialMs/maxMs:
 * - The spread window the master advised in its last welcome (`reconnectWindowMs`, from the size of
 *   its fleet): the first ceiling is at least that window, so after a master restart the whole fleet's
 *   first retries are spread over it. An agent alone cannot size this: decorrelated or exponential
 *   jitter spreads a fleet only after several failed rounds, each of which the restarting master (or
 *   its kernel) must answer; only the master knows how many agents will come back at once, and a
 *   small fleet gets a small window (the agent's own initialMs wins), so it stays fast. When the window
 *   is the larger, the first retry is drawn from its last three quarters: a master that vanished needs a
 *   restart before it listens again (seconds), and retries in that time meet a closed port, each one an
 *   attempt made for nothing by thousands of agents at once.
 * - A limit per call (`next(limitMs)`): the time left before the local deadtime fires. A random pick
 *   never sleeps through it (issue 10: a 14 s pick after a failed attempt outlived a healed partition).
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private windowMs = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.random = opts.random ?? Math.random;
  }

  /** The master's advice (its welcome): spread the first retry over this window (0: our own initialMs). */
  setWindow(ms: number): void {
    this.windowMs = Math.max(0, ms);
  }

  /** The ceiling the next delay is drawn under: max(initialMs, window) * 2^attempt, capped at maxMs. */
  ceiling(): number {
    const base = Math.max(this.opts.initialMs, this.windowMs);
    const exp = base * 2 ** Math.min(this.attempt, 30);
    return Math.min(this.opts.maxMs, Math.max(0, exp));
  }

  /** The next delay, never above limitMs when given, and one step further up the curve. */
  next(limitMs?: number): number {
    const ceiling = this.ceiling();
    const floor =
      this.attempt === 0 && this.windowMs > this.opts.initialMs ? Math.min(ceiling, this.windowMs) / 4 : 0;
    const delay = Math.floor(floor + this.random() * (ceiling - floor));
    this.attempt++;
    return this.bounded(Math.min(this.opts.maxMs, Math.max(0, delay)), limitMs);
  }

  /** The longest delay (never above limitMs when given), for peers we should not hammer (a refused token). */
  max(limitMs?: number): number {
    this.attempt++;
    return this.bounded(this.opts.maxMs, limitMs);
  }

  /** A connection worked: start again from initialMs. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }

  private bounded(delay: number, limitMs: number | undefined): number {
    return limitMs === undefined ? delay : Math.max(0, Math.min(delay, Math.floor(limitMs)));
  }
}
