/**
 * The state hub: the one place that holds the UPS's current variables and communication state, fed by
 * the source, read by the policy and every server (agents, NUT, HTTP). Listeners get each change once.
 */
import type { Clock } from '../../shared/clock.js';
import type { UpsVars } from '../../shared/nut/ups-state.js';

export interface HubSnapshot {
  ups: string;
  vars: UpsVars;
  /** True until the source published its first data (NUT shows `WAIT`). */
  waiting: boolean;
  /** True while the source is not communicating (NUT answers DATA-STALE). */
  stale: boolean;
  staleReason: string | null;
  /** Epoch ms of the last update from the source. */
  updatedAt: number | null;
}

export interface HubListener {
  vars?(snapshot: HubSnapshot, changed: string[]): void;
  comm?(snapshot: HubSnapshot, ok: boolean, reason: string): void;
}

export class StateHub {
  private current: HubSnapshot;
  private readonly listeners = new Set<HubListener>();

  constructor(
    readonly upsName: string,
    private readonly clock: Clock,
  ) {
    this.current = {
      ups: upsName,
      vars: {},
      waiting: true,
      stale: false,
      staleReason: null,
      updatedAt: null,
    };
  }

  snapshot(): HubSnapshot {
    return this.current;
  }

  subscribe(listener: HubListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A full snapshot from the source. */
  publishVars(vars: UpsVars): void {
    const before = this.current.vars;
    const changed = [...new Set([...Object.keys(before), ...Object.keys(vars)])].filter(
      (k) => before[k] !== vars[k],
    );
    const wasWaiting = this.current.waiting;
    this.current = {
      ...this.current,
      vars: Object.freeze({ ...vars }),
      waiting: false,
      updatedAt: this.clock.now(),
    };
    if (changed.length === 0 && !wasWaiting) return;
    for (const l of this.listeners) l.vars?.(this.current, changed);
  }

  publishComm(ok: boolean, reason: string): void {
    if (this.current.stale === !ok) return;
    this.current = { ...this.current, stale: !ok, staleReason: ok ? null : reason };
    for (const l of this.listeners) l.comm?.(this.current, ok, reason);
  }
}
