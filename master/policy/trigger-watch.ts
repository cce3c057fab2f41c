/**
 * Watches a set of conditions and fires once, for the first one that held long enough ("first one
 * wins"); the others are then dropped. Used for the fleet's critical rule and for each early group.
 */
import type { Clock } from '../../shared/clock.js';
import { DebouncedCondition } from './debounced-condition.js';
import type { ConditionInput, TriggerCondition } from './trigger-conditions.js';

export class TriggerWatch {
  private readonly debounced: Array<{ condition: TriggerCondition; state: DebouncedCondition }>;
  private latest: ConditionInput | null = null;
  private done = false;

  constructor(
    clock: Clock,
    conditions: TriggerCondition[],
    private readonly onFire: (reason: string, key: string) => void,
  ) {
    this.debounced = conditions.map((condition) => ({
      condition,
      state: new DebouncedCondition(clock, condition.delayMs, () => this.fire(condition)),
    }));
  }

  get fired(): boolean {
    return this.done;
  }

  evaluate(input: ConditionInput): void {
    if (this.done) return;
    this.latest = input;
    for (const { condition, state } of this.debounced)
      state.update(condition.holds(input), condition.heldSince?.(input));
  }

  /** Watches again from scratch (a new outage). */
  rearm(): void {
    this.stop();
    this.done = false;
  }

  /** It fired before a master restart (the journal says so): it never fires again. */
  markFired(): void {
    this.done = true;
    this.stop();
  }

  stop(): void {
    for (const { state } of this.debounced) state.clear();
  }

  private fire(condition: TriggerCondition): void {
    if (this.done || !this.latest) return;
    this.done = true;
    this.stop();
    this.onFire(condition.reason(this.latest), condition.key);
  }
}
