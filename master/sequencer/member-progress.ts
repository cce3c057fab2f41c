/**
 * One member's way down within one step (or early group): pending -> ordered -> acked -> going-down ->
 * down, or offline (not connected when ordered) and deadline (cut short). Confirmed down means, for an
 * upsfleet agent, ack + going-down + its connection closed (or a dry-run going-down: "it would now be
 * down"); for a stock NUT client, which cannot ack, its own LOGOUT or close after the order; for an SSH
 * target, its command accepted (going-down) and then its port unreachable for a while (its "close"). A close the
 * master caused (its ping or idle timer, a replaced connection) and a deadline never confirm anything.
 * Each method returns whether it changed anything, so duplicates (an agent replaying after a reconnect)
 * are harmless.
 */

import type { OrderMsg, ProgressMsg } from '../../shared/protocol/messages.js';
import type { MemberKind } from '../fleet/registry.js';
import type { RecoveredMember } from '../journal/recovery.js';
import type { DrillHookView, HookProgressView, MemberState, MemberView } from './sequence-view.js';

/** Guests kept per hook of a member (a host runs a few dozen at most). */
const MAX_GUESTS_PER_HOOK = 256;

export class MemberProgress {
  state: MemberState = 'pending';
  private order: OrderMsg | null = null;
  private orderedAt: number | null = null;
  private ackAt: number | null = null;
  private goingDownAt: number | null = null;
  private downAt: number | null = null;
  private disconnectedAt: number | null = null;
  private dryRun: boolean | null = null;
  private hookFailures: number | null = null;
  private reachedAtDeadline: MemberView['reachedAtDeadline'] = null;
  private cutShortWhy: string | null = null;
  private offlineAtStep = false;
  private downEarly = false;
  private redundantAt: number | null = null;
  /** Ordered after its stage stopped waiting (its other supplies were lost then): its replies still count. */
  orderedAfterStage = false;
  private readonly hooks = new Map<number, HookProgressView>();
  private drillReport: DrillHookView[] | null = null;

  constructor(
    readonly id: string,
    readonly kind: MemberKind,
    readonly group: string,
    readonly orderId: string,
  ) {}

  get isDown(): boolean {
    return this.state === 'down';
  }

  /** Down, cut short, or redundantly fed: nothing more is waited for. */
  get isFinished(): boolean {
    return this.state === 'down' || this.state === 'deadline' || this.state === 'redundantly-fed';
  }

  get isRedundant(): boolean {
    return this.state === 'redundantly-fed';
  }

  /** Fed by its other supplies: not ordered (or its order declined), not waited for, not down. */
  redundant(now: number): boolean {
    if (this.state === 'down' || this.state === 'deadline' || this.state === 'redundantly-fed') return false;
    this.state = 'redundantly-fed';
    this.redundantAt = now;
    return true;
  }

  /** Its other supplies are lost: to be ordered after all (`afterStage`: its stage no longer waits). */
  needed(afterStage: boolean): boolean {
    if (this.state !== 'redundantly-fed') return false;
    this.state = 'pending';
    this.orderedAfterStage = afterStage;
    return true;
  }

  /** The order to (re-)send: always the same message, orders are idempotent by id. */
  get pendingOrder(): OrderMsg | null {
    return this.isFinished ? null : this.order;
  }

  /** State as the journal recorded it, with the order (same id) to re-send while it is not finished. */
  restore(rec: RecoveredMember, order: OrderMsg): void {
    this.state = rec.state;
    this.order = order;
    this.orderedAt = rec.orderedAt;
    this.ackAt = rec.ackAt;
    this.goingDownAt = rec.goingDownAt;
    this.downAt = rec.downAt;
    this.disconnectedAt = rec.disconnectedAt;
    this.dryRun = rec.dryRun;
    this.reachedAtDeadline = rec.reachedAtDeadline;
    this.cutShortWhy = rec.cutShortWhy ?? null;
    this.offlineAtStep = rec.offlineAtStep;
    this.downEarly = rec.downEarly;
    this.redundantAt = rec.redundantAt;
  }

  /** Confirmed down earlier by its early group: recorded, never ordered again. */
  alreadyDown(at: number | null, now: number): void {
    this.downEarly = true;
    this.state = 'down';
    this.downAt = at ?? now;
  }

  /**
   * Recorded before the send, so that a reply arriving during the send finds it ordered. Returns
   * whether this is the first delivery attempt that counts (for `undelivered`).
   */
  ordered(order: OrderMsg, now: number): boolean {
    this.order = order;
    const first = this.orderedAt === null;
    this.orderedAt ??= now;
    this.disconnectedAt = null;
    if (this.state === 'pending' || this.state === 'offline') this.state = 'ordered';
    return first;
  }

  /** The registry could not deliver it: the member is not connected. */
  undelivered(first: boolean): void {
    this.offlineAtStep = true;
    if (first) this.orderedAt = null;
    if (this.state === 'ordered') this.state = 'offline';
  }

  get downAtMs(): number | null {
    return this.downAt;
  }

  ack(now: number): boolean {
    if (this.kind === 'nut' || this.isFinished || this.ackAt !== null) return false;
    this.ackAt = now;
    if (this.state === 'ordered' || this.state === 'offline') this.state = 'acked';
    return true;
  }

  /** Returns 'down' when the going-down itself confirms (dry run). */
  goingDown(dryRun: boolean, hookFailures: number, now: number): 'going-down' | 'down' | false {
    if (this.kind === 'nut' || this.isFinished || this.goingDownAt !== null) return false;
    this.ackAt ??= now; // a going-down proves the order arrived even if the ack was lost
    this.goingDownAt = now;
    this.dryRun = dryRun;
    this.hookFailures = hookFailures;
    if (dryRun) {
      this.markDown(now);
      return 'down';
    }
    this.state = 'going-down';
    return 'going-down';
  }

  /**
   * Returns true when this close confirms it down. Only a close the member made counts: one the master
   * caused (missed pings, idle timer, a replaced connection, stopping) says nothing about the host.
   */
  disconnected(now: number, byMaster = false): boolean {
    if (this.isFinished) return false;
    // a stock NUT client cannot ack: its logout after seeing FSD is all it can say
    const confirms =
      !byMaster && (this.kind === 'nut' ? this.state === 'ordered' : this.state === 'going-down');
    if (confirms) {
      this.markDown(now);
      return true;
    }
    this.disconnectedAt = now;
    return false;
  }

  /** Shown its order after its stage stopped waiting for it (a NUT client logging in late): recorded, not waited for. */
  lateOrdered(now: number): void {
    if (this.state === 'deadline') this.orderedAt ??= now;
  }

  /** Its own close after a late order: it went down, after its stage's deadline (the state keeps saying so). */
  lateDown(now: number): void {
    if (this.state === 'deadline') this.downAt ??= now;
  }

  cutByDeadline(why?: string): boolean {
    if (this.isFinished) return false;
    this.reachedAtDeadline = this.state as MemberView['reachedAtDeadline'];
    this.cutShortWhy = why ?? null;
    this.state = 'deadline';
    return true;
  }

  progress(
    msg: Pick<ProgressMsg, 'hook' | 'of' | 'name' | 'status' | 'durationMs' | 'guest'>,
    now: number,
  ): void {
    const known = this.hooks.get(msg.hook);
    if (msg.guest) {
      // one guest's news: the hook's own status is left as it is (a replay must not turn `ok` back)
      const hook = known ?? {
        hook: msg.hook,
        of: msg.of,
        name: msg.name,
        status: msg.status,
        durationMs: null,
        at: now,
      };
      const guests = (hook.guests ?? []).filter(
        (g) => g.name !== msg.guest?.name || g.kind !== msg.guest.kind,
      );
      if (guests.length >= MAX_GUESTS_PER_HOOK) return;
      guests.push({
        name: msg.guest.name,
        kind: msg.guest.kind,
        state: msg.guest.state,
        durationMs: msg.guest.durationMs ?? null,
        ...(msg.guest.error !== undefined ? { error: msg.guest.error } : {}),
        at: now,
      });
      this.hooks.set(msg.hook, { ...hook, guests });
      return;
    }
    this.hooks.set(msg.hook, {
      ...(known?.guests ? { guests: known.guests } : {}),
      hook: msg.hook,
      of: msg.of,
      name: msg.name,
      status: msg.status,
      durationMs: msg.durationMs ?? null,
      at: now,
    });
  }

  report(hooks: DrillHookView[]): void {
    this.drillReport = hooks.map((h) => ({
      ...h,
      ...(h.guests ? { guests: h.guests.map((g) => ({ ...g })) } : {}),
    }));
  }

  view(): MemberView {
    return {
      id: this.id,
      kind: this.kind,
      group: this.group,
      state: this.state,
      orderId: this.orderId,
      orderedAt: this.orderedAt,
      ackAt: this.ackAt,
      goingDownAt: this.goingDownAt,
      downAt: this.downAt,
      disconnectedAt: this.disconnectedAt,
      dryRun: this.dryRun,
      hookFailures: this.hookFailures,
      cutShortByDeadline: this.state === 'deadline',
      reachedAtDeadline: this.reachedAtDeadline,
      cutShortWhy: this.cutShortWhy,
      offlineAtStep: this.offlineAtStep,
      downEarly: this.downEarly,
      redundantAt: this.redundantAt,
      hooks: [...this.hooks.values()]
        .sort((a, b) => a.hook - b.hook)
        .map((h) => (h.guests ? { ...h, guests: h.guests.map((g) => ({ ...g })) } : h)),
      drillReport: this.drillReport,
    };
  }

  private markDown(now: number): void {
    this.state = 'down';
    this.downAt = now;
    this.disconnectedAt = null;
  }
}
