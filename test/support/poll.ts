export interface PollOptions {
  /** Between two probes (default 200 ms). */
  intervalMs?: number;
  /** What the last look found, for the timeout's message. */
  seen?: () => string;
}

/**
 * Waits for something a real process will do: calls `probe` every `intervalMs` until it returns a value
 * other than undefined. A probe that throws (a server not listening yet) counts as "not yet"; the last such
 * error is in the timeout's message, with `what` and what was last seen.
 */
export async function pollFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  opts: PollOptions = {},
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(
        `${what}: not seen in ${timeoutMs} ms${last ? ` (${String(last)})` : ''}${opts.seen ? `; last seen: ${opts.seen()}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
