/**
 * The agent's own last line of defence, like upsmon's DEADTIME: if the master has been unreachable
 * for longer than deadtimeMs while the last known `ups.status` said OB, nobody will send an order
 * any more, so the agent shuts its machine down on its own. A reconnect in time cancels it.
 * Every agent counts from the same moment (the master's last message), so each one also waits the
 * lostMasterDelayMs of its step (from the master's welcome): the fleet then still leaves in sequence
 * order instead of all at once.
 *
 * Right before it would go down, the agent makes one last connection attempt (bounded by lastAttemptMs):
 * a link that healed since the last try must not lose the race with a backoff pick. Only a master that
 * welcomes us on that attempt cancels the shutdown.
 */
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { hasStatus } from '../shared/nut/status.js';

export interface LocalSafetyOptions {
  /** The agent's configured deadtime. */
  deadtimeMs: number;
  /** The extra wait of this agent's step, as the last welcome (or the saved place) said; default 0. */
  lostMasterDelayMs?: number;
  clock: Clock;
  logger: Logger;
  /** Called once, with the reason to log and put in the marker. */
  onShutdown: (reason: string) => void;
  /**
   * One of several supplies (agent `supplies:`): the deadtime passing loses this supply only, and the
   * supply count decides whether the host goes down; named in the log instead of "shutting down".
   */
  supply?: string;
  /**
   * One last connection attempt at the deadline: resolves true once a master welcomed us (within budgetMs),
   * false when the attempt failed. Absent: the shutdown fires at the deadline, as upsmon's DEADTIME does.
   */
  lastAttempt?: (budgetMs: number) => Promise<boolean>;
  /** The longest the last attempt may hold the shutdown back (default LAST_ATTEMPT_MS). */
  lastAttemptMs?: number;
}

/**
 * The last attempt's bound: a TCP connect, TLS handshake, upgrade and hello/welcome take four round trips,
 * well under a second on a LAN; 5 s lets a loaded master or a link of ~1 s RTT answer, and is the most the
 * local shutdown can be late by (docs/NETWORK.md: size the deadtime with it).
 */
export const LAST_ATTEMPT_MS = 5_000;

export class LocalSafety {
  /** Last known ups.status per UPS the master reported. */
  private readonly statusByUps = new Map<string, string>();
  private timer: TimerHandle | null = null;
  private unreachableSince: number | null = null;
  private _triggered = false;
  private _lostMasterDelayMs: number;
  /** When the running countdown ends (epoch ms); null when none runs. */
  private deadlineAt: number | null = null;
  /** The last attempt is under way: its own result decides (an open link is not a welcome). */
  private lastAttemptRunning = false;
  /** Bumped by every cancel, so that a last attempt that ends after one changes nothing. */
  private epoch = 0;

  constructor(private readonly opts: LocalSafetyOptions) {
    this._lostMasterDelayMs = opts.lostMasterDelayMs ?? 0;
  }

  get lostMasterDelayMs(): number {
    return this._lostMasterDelayMs;
  }

  /** How long the master may be unreachable while on battery before we go down: deadtime + our step's delay. */
  get effectiveDeadtimeMs(): number {
    return this.opts.deadtimeMs + this._lostMasterDelayMs;
  }

  /** From a welcome. Takes effect at the next loss of the master (a welcome means it is reachable now). */
  setLostMasterDelay(ms: number): void {
    this._lostMasterDelayMs = Math.max(0, ms);
  }

  /**
   * When the local shutdown fires (epoch ms), while on battery with the master lost; null otherwise. The
   * reconnect backoff never waits past it.
   */
  get shutdownAt(): number | null {
    return this.deadlineAt;
  }

  get triggered(): boolean {
    return this._triggered;
  }

  /** True when any UPS was last seen on battery (the machine may be fed by any of them). */
  get onBattery(): boolean {
    for (const status of this.statusByUps.values()) if (hasStatus(status, 'OB')) return true;
    return false;
  }

  observeStatus(ups: string, status: string | undefined): void {
    if (status === undefined) return;
    this.statusByUps.set(ups, status);
  }

  masterReachable(): void {
    // during the last attempt an open link is not enough: only its welcome (the attempt's result) counts
    if (this.lastAttemptRunning) return;
    if (this.timer) {
      const downForMs = this.unreachableSince === null ? 0 : this.opts.clock.now() - this.unreachableSince;
      this.opts.logger.info({ downForMs }, 'master reachable again; local shutdown cancelled');
    }
    this.cancel();
    this.unreachableSince = null;
  }

  /** The link dropped; `since` is the last contact (the deadtime counts from then). */
  masterUnreachable(since: number | null): void {
    if (this._triggered || this.timer || this.lastAttemptRunning) return;
    const now = this.opts.clock.now();
    this.unreachableSince = since ?? now;
    if (!this.onBattery) {
      this.opts.logger.debug('master unreachable while on line power: no local action');
      return;
    }
    const effectiveDeadtimeMs = this.effectiveDeadtimeMs;
    const remaining = Math.max(0, effectiveDeadtimeMs - (now - this.unreachableSince));
    this.opts.logger.warn(
      {
        deadtimeMs: this.opts.deadtimeMs,
        lostMasterDelayMs: this._lostMasterDelayMs,
        effectiveDeadtimeMs,
        shutdownInMs: remaining,
      },
      'master unreachable while on battery: shutting down on our own unless it comes back in time',
    );
    this.deadlineAt = now + remaining;
    this.timer = this.opts.clock.setTimer(remaining, () => this.deadlineReached());
  }

  stop(): void {
    this.cancel();
  }

  /** This supply's master is back and the host stayed up (other supplies fed it): a later loss counts again. */
  rearm(): void {
    this._triggered = false;
  }

  /** The deadtime is over: one last attempt first when we can make one, then the shutdown unless it was welcomed. */
  private deadlineReached(): void {
    this.timer = null;
    this.deadlineAt = null;
    if (this._triggered || this.unreachableSince === null) return;
    const lastAttempt = this.opts.lastAttempt;
    if (!lastAttempt) {
      this.fire();
      return;
    }
    const budgetMs = this.opts.lastAttemptMs ?? LAST_ATTEMPT_MS;
    const epoch = this.epoch;
    this.lastAttemptRunning = true;
    this.opts.logger.warn(
      { lastAttemptMs: budgetMs, effectiveDeadtimeMs: this.effectiveDeadtimeMs },
      'deadtime over: one last attempt to reach the master before going down',
    );
    let settled = false;
    const settle = (welcomed: boolean) => {
      if (settled) return;
      settled = true;
      cap.cancel();
      this.lastAttemptRunning = false;
      if (epoch !== this.epoch) return; // stopped meanwhile
      if (welcomed) {
        const downForMs = this.unreachableSince === null ? 0 : this.opts.clock.now() - this.unreachableSince;
        this.unreachableSince = null;
        this.opts.logger.info(
          { downForMs },
          'the master welcomed us at the last attempt; local shutdown cancelled',
        );
        return;
      }
      this.fire();
    };
    // the attempt bounds itself; this cap holds even if it never answers
    const cap = this.opts.clock.setTimer(budgetMs, () => settle(false));
    lastAttempt(budgetMs).then(settle, () => settle(false));
  }

  private fire(): void {
    if (this._triggered || this.unreachableSince === null) return;
    this._triggered = true;
    const seconds = Math.round((this.opts.clock.now() - this.unreachableSince) / 1000);
    const reason = `master unreachable for ${seconds}s while on battery`;
    if (this.opts.supply !== undefined) {
      this.opts.logger.warn(
        { supply: this.opts.supply, effectiveDeadtimeMs: this.effectiveDeadtimeMs },
        `${reason}: this supply is lost (the count of supplies decides whether we go down)`,
      );
      this.opts.onShutdown(reason);
      return;
    }
    this.opts.logger.error(
      {
        code: 'MASTER_UNREACHABLE',
        deadtimeMs: this.opts.deadtimeMs,
        lostMasterDelayMs: this._lostMasterDelayMs,
        effectiveDeadtimeMs: this.effectiveDeadtimeMs,
      },
      `shutting down on our own: ${reason}`,
    );
    this.opts.onShutdown(reason);
  }

  private cancel(): void {
    this.timer?.cancel();
    this.timer = null;
    this.deadlineAt = null;
    this.epoch++;
  }
}
