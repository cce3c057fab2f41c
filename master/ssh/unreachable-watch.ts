/**
 * The confirmation rule of an SSH target, after its command was accepted: its SSH port must refuse or
 * ignore TCP connects continuously for `unreachableForMs`. One answer in between starts the count again
 * (a host that reboots instead of powering off answers again within seconds). The caller stops the
 * watch at the step's deadline. Time comes from the injected clock; probes never overlap.
 */
import { connect } from 'node:net';
import type { Clock, TimerHandle } from '../../shared/clock.js';

export type ProbeResult = 'open' | 'refused' | 'timeout' | 'unreachable';

export interface UnreachableWatchOptions {
  clock: Clock;
  /** One TCP connect attempt to the SSH port. */
  probe: () => Promise<ProbeResult>;
  intervalMs: number;
  unreachableForMs: number;
  /** Called once: unreachable without a break from `since` to `at`. */
  onConfirmed(since: number, at: number): void;
  /** Each time the port answered (the host is still up). */
  onAnswered?(at: number): void;
}

export interface UnreachableWatchView {
  /** When the current run of unanswered probes began (null: the last probe was answered, or none yet). */
  unreachableSince: number | null;
  lastAnsweredAt: number | null;
  lastResult: ProbeResult | null;
  probes: number;
  confirmedAt: number | null;
}

export class UnreachableWatch {
  private timer: TimerHandle | null = null;
  private stopped = true;
  private since: number | null = null;
  private lastAnsweredAt: number | null = null;
  private lastResult: ProbeResult | null = null;
  private probes = 0;
  private confirmedAt: number | null = null;

  constructor(private readonly opts: UnreachableWatchOptions) {}

  start(): void {
    if (!this.stopped || this.confirmedAt !== null) return;
    this.stopped = false;
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  view(): UnreachableWatchView {
    return {
      unreachableSince: this.since,
      lastAnsweredAt: this.lastAnsweredAt,
      lastResult: this.lastResult,
      probes: this.probes,
      confirmedAt: this.confirmedAt,
    };
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const startedAt = this.opts.clock.now();
    let result: ProbeResult;
    try {
      result = await this.opts.probe();
    } catch {
      result = 'unreachable';
    }
    if (this.stopped) return;
    const at = this.opts.clock.now();
    this.probes++;
    this.lastResult = result;
    if (result === 'open') {
      this.since = null;
      this.lastAnsweredAt = at;
      this.opts.onAnswered?.(at);
    } else {
      // unreachable from the moment this probe was sent (a timeout took its time to say so)
      this.since ??= startedAt;
      if (at - this.since >= this.opts.unreachableForMs) {
        this.confirmedAt = at;
        this.stop();
        this.opts.onConfirmed(this.since, at);
        return;
      }
    }
    const next = Math.max(0, this.opts.intervalMs - (at - startedAt));
    this.timer = this.opts.clock.setTimer(next, () => void this.tick());
  }
}

/** One TCP connect to host:port: open, refused (RST), timeout (no answer), or unreachable (no route). */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable'),
    );
  });
}
