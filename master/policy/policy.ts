/**
 * The policy: reads the state hub and decides. It turns `ups.status` and comm transitions into power
 * events, declares the fleet critical (latched: once reached the sequence runs to the end, even if mains
 * return) and fires each early group's own trigger once. NUT's upsmon rules (reference/nut.md §1.4):
 * FSD is immediate; OB+LB (not during CAL) and the master's thresholds must hold for the debounce; a
 * source lost while last seen on battery is critical after the deadtime. WAIT/no data is never an outage.
 */
import type { Clock } from '../../shared/clock.js';
import type { EarlyGroupSpec } from '../../shared/config/master-settings.js';
import type { TriggerSpec } from '../../shared/config/resolved.js';
import type { Logger } from '../../shared/logger.js';
import { type PowerEvent, powerEventLogLevel } from '../../shared/nut/events.js';
import { formatStatus, parseStatus } from '../../shared/nut/status.js';
import type { UpsVars } from '../../shared/nut/ups-state.js';
import type { PolicyViewT } from '../../shared/protocol/messages.js';
import type { HubSnapshot, StateHub } from '../state/state-hub.js';
import { DebouncedCondition } from './debounced-condition.js';
import { isNoData, type StatusEvent, statusEvents } from './status-events.js';
import { type ConditionInput, lowBatteryCondition, triggerConditions } from './trigger-conditions.js';
import { TriggerWatch } from './trigger-watch.js';

export interface PolicyOptions {
  clock: Clock;
  logger: Logger;
  /** How long OB+LB or a threshold must hold before the fleet is critical. */
  debounceMs: number;
  /** How long a source lost while on battery may stay silent before the fleet is critical. */
  deadtimeMs: number;
  critical: TriggerSpec;
  earlyGroups: EarlyGroupSpec[];
}

export interface PolicyListener {
  /** ups.status changed, with the events it causes (journaled before they are sent). */
  status?(status: string, onBatterySince: number | null, events: StatusEvent[]): void;
  event?(event: PowerEvent, message: string): void;
  critical?(reason: string): void;
  early?(group: string, reason: string): void;
  /** A new outage began (on battery after mains), after `status` and before any trigger is evaluated. */
  outage?(since: number): void;
}

export class Policy {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly listeners = new Set<PolicyListener>();
  private readonly fleet: TriggerWatch;
  private readonly early = new Map<string, TriggerWatch>();
  private readonly deadtime: DebouncedCondition;
  private ups = 'ups';
  /** The last real status (null until the first data that is not WAIT). */
  private tokens: Set<string> | null = null;
  private vars: UpsVars = {};
  private communicating = true;
  private onBatterySince: number | null = null;
  private criticalReason: string | null = null;
  private detach: (() => void) | null = null;

  constructor(opts: PolicyOptions) {
    this.clock = opts.clock;
    this.log = opts.logger;
    const conditions = [
      lowBatteryCondition(opts.debounceMs),
      ...triggerConditions(opts.critical, opts.debounceMs),
    ];
    this.fleet = new TriggerWatch(this.clock, conditions, (reason, key) => this.declareCritical(reason, key));
    for (const group of opts.earlyGroups) {
      const watch = new TriggerWatch(
        this.clock,
        triggerConditions(group.trigger, opts.debounceMs),
        (reason, key) => this.fireEarly(group.name, reason, key),
      );
      this.early.set(group.name, watch);
    }
    // NUT's DEADTIME: dead + last seen OB is treated as OB+LB
    this.deadtime = new DebouncedCondition(this.clock, opts.deadtimeMs, () =>
      this.declareCritical(
        `UPS source lost while on battery for ${opts.deadtimeMs / 1000}s (deadtime)`,
        'deadtime',
      ),
    );
  }

  attach(hub: StateHub): void {
    this.detach?.();
    this.ups = hub.upsName;
    this.detach = hub.subscribe({
      vars: (snap) => this.onVars(snap),
      comm: (_snap, ok, reason) => this.onComm(ok, reason),
    });
    const snap = hub.snapshot();
    if (!snap.waiting) this.onVars(snap);
    if (snap.stale) this.onComm(false, snap.staleReason ?? 'source not communicating');
  }

  subscribe(listener: PolicyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * What a previous master process had established (from the journal), before any new data: the last
   * status (so the first one now is compared with it: no second ONBATT), when the outage began (so
   * onBatteryFor counts from then), the critical latch (it stays latched even if mains are back: the run
   * it started must end with killpower) and the early triggers that already fired.
   */
  restore(previous: {
    status: string | null;
    onBatterySince: number | null;
    criticalReason: string | null;
    earlyFired: readonly string[];
    /** Events the last status change caused that the previous process died before sending: sent now. */
    pendingEvents?: readonly StatusEvent[];
  }): void {
    if (previous.status !== null) {
      const tokens = parseStatus(previous.status);
      if (!isNoData(tokens)) this.tokens = tokens;
    }
    this.onBatterySince = previous.onBatterySince;
    if (previous.criticalReason !== null) {
      this.criticalReason = previous.criticalReason;
      this.fleet.markFired();
    }
    for (const group of previous.earlyFired) this.early.get(group)?.markFired();
    for (const e of previous.pendingEvents ?? []) this.emitEvent(e.event, e.message);
  }

  /**
   * The outage is over (mains back and the run it started has ended): a later outage is judged anew.
   * Returns whether a latch was released.
   */
  releaseLatch(): boolean {
    if (this.criticalReason === null) return false;
    this.log.info(
      { criticalReason: this.criticalReason },
      'mains back and the shutdown run ended: critical latch released',
    );
    this.criticalReason = null;
    this.fleet.rearm();
    return true;
  }

  /**
   * Early triggers watch again from scratch (their group's hosts were woken, or a new outage began), so
   * the group leaves again on its own trigger. Without `group`: every early trigger.
   */
  rearmEarly(group?: string): void {
    for (const [name, watch] of this.early) if (group === undefined || name === group) watch.rearm();
  }

  /** An admin's or a NUT primary's FSD: critical now, no debounce. */
  forceShutdown(reason: string): void {
    if (this.criticalReason !== null) {
      this.log.info(
        { reason, criticalReason: this.criticalReason },
        'forced shutdown requested; fleet already critical',
      );
      return;
    }
    this.emitEvent('FSD', `UPS ${this.ups}: forced shutdown requested (${reason})`);
    this.declareCritical(`forced shutdown: ${reason}`, 'forced');
  }

  view(): PolicyViewT {
    return {
      critical: this.criticalReason !== null,
      reason: this.criticalReason,
      onBatterySince: this.onBatterySince,
      communicating: this.communicating,
    };
  }

  stop(): void {
    this.detach?.();
    this.detach = null;
    this.fleet.stop();
    for (const watch of this.early.values()) watch.stop();
    this.deadtime.clear();
  }

  private onVars(snap: HubSnapshot): void {
    const tokens = parseStatus(snap.vars['ups.status']);
    if (isNoData(tokens)) return;
    const before = this.tokens;
    this.tokens = tokens;
    this.vars = snap.vars;
    const newOutage = tokens.has('OB') && this.onBatterySince === null;
    if (newOutage) this.onBatterySince = this.clock.now();
    if (!tokens.has('OB')) this.onBatterySince = null;
    const events = statusEvents(this.ups, before, tokens);
    if (!sameTokens(before, tokens)) {
      const status = formatStatus(tokens);
      for (const l of [...this.listeners])
        this.safely(() => l.status?.(status, this.onBatterySince, events), 'status');
    }
    if (newOutage && this.onBatterySince !== null) {
      const since = this.onBatterySince;
      for (const l of [...this.listeners]) this.safely(() => l.outage?.(since), 'outage');
    }
    for (const e of events) this.emitEvent(e.event, e.message);
    if (tokens.has('FSD')) this.declareCritical('FSD in ups.status', 'fsd');
    this.evaluate();
  }

  private onComm(ok: boolean, reason: string): void {
    if (ok === this.communicating) return;
    this.communicating = ok;
    if (ok) this.emitEvent('COMMOK', `communication with UPS ${this.ups} established`);
    else this.emitEvent('COMMBAD', `communication with UPS ${this.ups} lost: ${reason}`);
    this.evaluate();
  }

  private evaluate(): void {
    if (!this.tokens) return;
    const input: ConditionInput = {
      tokens: this.tokens,
      vars: this.vars,
      onBatterySince: this.onBatterySince,
    };
    if (this.criticalReason === null) {
      this.fleet.evaluate(input);
      this.deadtime.update(!this.communicating && this.tokens.has('OB'));
    }
    for (const watch of this.early.values()) watch.evaluate(input);
  }

  private declareCritical(reason: string, rule: string): void {
    if (this.criticalReason !== null) return;
    this.criticalReason = reason;
    this.fleet.stop();
    this.deadtime.clear();
    this.log.warn({ reason, rule, status: this.vars['ups.status'] ?? null }, 'fleet is critical');
    for (const l of [...this.listeners]) this.safely(() => l.critical?.(reason), 'critical');
  }

  private fireEarly(group: string, reason: string, rule: string): void {
    this.log.warn({ group, reason, rule }, 'early group trigger holds');
    for (const l of [...this.listeners]) this.safely(() => l.early?.(group, reason), 'early');
  }

  private emitEvent(event: PowerEvent, message: string): void {
    this.log[powerEventLogLevel(event)]({ event, message }, 'power event');
    for (const l of [...this.listeners]) this.safely(() => l.event?.(event, message), 'event');
  }

  /** A faulty listener must not keep the others (the sequencer) from hearing about it. */
  private safely(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, listener: what }, 'policy listener threw');
    }
  }
}

function sameTokens(a: ReadonlySet<string> | null, b: ReadonlySet<string>): boolean {
  return a !== null && a.size === b.size && [...a].every((t) => b.has(t));
}
