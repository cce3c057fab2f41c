/**
 * A condition that must hold continuously for `delayMs` before it fires. Re-asserting a holding condition
 * keeps its original start; clearing it cancels the timer, so a blip shorter than the delay never fires.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';

export class DebouncedCondition {
  private since: number | null = null;
  private timer: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly fire: () => void,
  ) {}

  /**
   * Report whether the condition holds now. `heldSince` dates the start when it is known to be earlier
   * than now (on battery since before a master restart): only what is left of the delay is waited.
   */
  update(holds: boolean, heldSince?: number | null): void {
    if (!holds) {
      this.clear();
      return;
    }
    if (this.since !== null) return;
    const now = this.clock.now();
    this.since = heldSince != null && heldSince < now ? heldSince : now;
    this.timer = this.clock.setTimer(this.delayMs - (now - this.since), () => {
      this.timer = null;
      this.fire();
    });
  }

  /** Epoch ms since when the condition has held, or null. */
  holdingSince(): number | null {
    return this.since;
  }

  clear(): void {
    this.timer?.cancel();
    this.timer = null;
    this.since = null;
  }
}
