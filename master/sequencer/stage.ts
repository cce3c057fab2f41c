/**
 * One stage of a shutdown: a step of the fleet sequence, or an early group on its own. It orders every
 * member of its groups, re-sends the same order to a member that (re)connects while it runs, and ends
 * when every member is confirmed down (after the settle time) or at its deadline, whichever comes first;
 * at the deadline every unconfirmed member is recorded as cut short, with what it had reached. Only what
 * a member did confirms it: a close the master caused (ping or idle timer, replaced, stopping) never does.
 * A NUT client that logs in after its stage stopped waiting for it is shown its order (FSD) all the same,
 * journaled as a late order, and its own logout then as a late down.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { envelop } from '../../shared/protocol/codec.js';
import type { OrderMsg, ProgressMsg } from '../../shared/protocol/messages.js';
import { type FleetRegistry, type MemberInfo, redundantlyFed } from '../fleet/registry.js';
import type { RecoveredStage } from '../journal/recovery.js';
import { MemberProgress } from './member-progress.js';
import type { DrillHookView, StageEnd, StageState, StepView, TimelineEntry } from './sequence-view.js';

export interface StageSpec {
  /** 1-based step of the fleet sequence; null for an early group. */
  index: number | null;
  groups: string[];
  deadlineMs: number;
  settleMs: number;
  /** The early group's name, for an early stage. */
  early?: string;
}

export interface StageContext {
  clock: Clock;
  log: Logger;
  registry: FleetRegistry;
  runId: string;
  reason: string;
  drill: boolean;
  /** `ts`: the instant of the change it records (default: now), so the journal and the live state agree. */
  emit(entry: Omit<TimelineEntry, 'ts' | 'runId' | 'drill'> & { ts?: number }): void;
  /** Runs `fn` so that the records it emits are made durable once, at its end (before any order leaves). */
  batch<T>(fn: () => T): T;
  /** When a member was already confirmed down by an early group, or undefined. */
  downElsewhere(memberId: string): number | null | undefined;
  /**
   * Whether a NUT client logging in after this stage stopped waiting still gets its order (FSD): false
   * once its run was abandoned, or for an early group that left while no fleet run is under way. Default true.
   */
  showLate?(): boolean;
}

export function waitingStepView(spec: StageSpec): StepView {
  return {
    index: spec.index,
    groups: [...spec.groups],
    state: 'waiting',
    deadlineMs: spec.deadlineMs,
    settleMs: spec.settleMs,
    startedAt: null,
    deadline: null,
    endedAt: null,
    endedBy: null,
    members: [],
  };
}

export class Stage {
  state: StageState = 'waiting';
  private readonly members = new Map<string, MemberProgress>();
  /**
   * NUT clients shown their order but no longer waited for (logged in late, or cut short by the deadline
   * while connected), until they leave: id -> order id. Their own close is journaled as late-down.
   */
  private readonly late = new Map<string, string>();
  private startedAt: number | null = null;
  private deadline: number | null = null;
  private endedAt: number | null = null;
  private endedBy: StageEnd | null = null;
  private timer: TimerHandle | null = null;
  private readonly log: Logger;
  private resolveEnded: () => void = () => {};
  /** Resolves when the stage ended (confirmed, deadline or empty). */
  readonly ended: Promise<void>;

  constructor(
    readonly spec: StageSpec,
    private readonly ctx: StageContext,
    private readonly onEnd: (stage: Stage) => void,
  ) {
    this.log = ctx.log.child(spec.early !== undefined ? { early: spec.early } : { step: spec.index });
    this.ended = new Promise<void>((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  /** Still waiting for members (running) or for their machines to settle. */
  get isActive(): boolean {
    return this.state === 'running' || this.state === 'settling';
  }

  member(id: string): MemberProgress | undefined {
    return this.members.get(id);
  }

  begin(): void {
    if (this.state !== 'waiting') return;
    const { clock, registry } = this.ctx;
    const now = clock.now();
    this.state = 'running';
    this.startedAt = now;
    this.deadline = now + this.spec.deadlineMs;
    this.emit({
      kind: this.spec.early !== undefined ? 'early-start' : 'step-start',
      deadline: this.deadline,
      ...(this.spec.early !== undefined ? { plan: { ...this.spec }, detail: this.ctx.reason } : {}),
      ts: now,
    });
    const infos = this.spec.groups.flatMap((g) => registry.inGroup(g));
    this.log.info(
      {
        groups: this.spec.groups,
        members: infos.map((m) => m.id),
        deadline: this.deadline,
        reason: this.ctx.reason,
      },
      infos.length === 0 ? 'stage has no members' : 'stage starts: ordering its members down',
    );
    if (infos.length === 0) {
      this.end('empty');
      return;
    }
    this.timer = clock.setTimer(this.spec.deadlineMs, () => this.onDeadline());
    this.orderAll(infos);
  }

  /** Restores what the journal recorded of this stage (a restarted master). Nothing is sent. */
  restore(rec: RecoveredStage): void {
    this.state = rec.state;
    this.startedAt = rec.startedAt;
    this.deadline = rec.deadline ?? (rec.startedAt ?? this.ctx.clock.now()) + this.spec.deadlineMs;
    this.endedAt = rec.endedAt;
    this.endedBy = rec.endedBy;
    for (const r of Object.values(rec.members)) {
      const m = new MemberProgress(r.id, r.kind, r.group, r.orderId);
      m.restore(r, this.orderFor(m.orderId));
      this.members.set(r.id, m);
    }
    if (this.state === 'done') this.resolveEnded();
  }

  /**
   * Continues a restored running stage: its deadline keeps its original time (fires at once if it
   * passed while the master was away), members recorded as ordered get the same order when they
   * connect, members of its groups it had not reached yet are ordered now, finished ones never again.
   */
  resume(): void {
    if (this.state === 'settling') this.state = 'running';
    if (this.state !== 'running') return;
    const remaining = Math.max(0, (this.deadline ?? 0) - this.ctx.clock.now());
    this.timer = this.ctx.clock.setTimer(remaining, () => this.onDeadline());
    const infos = this.spec.groups
      .flatMap((g) => this.ctx.registry.inGroup(g))
      .filter((info) => !this.members.has(info.id));
    this.orderAll(infos);
  }

  onConnected(info: MemberInfo): void {
    if (this.state === 'waiting') return;
    if (this.onSupplies(info)) return;
    const known = this.members.get(info.id);
    if (this.state !== 'running' || known?.isFinished) {
      this.lateOrder(info, known);
      return;
    }
    if (known) {
      const order = known.pendingOrder;
      if (!order) return;
      const now = this.ctx.clock.now();
      const first = known.ordered(order, now);
      if (!this.ctx.registry.isConnected(info.id)) {
        known.undelivered(first);
        return;
      }
      // journaled before it leaves: a master that dies now re-sends the same order after its restart
      this.emit({ kind: 'resend', memberId: info.id, orderId: order.orderId, ts: now });
      this.ctx.registry.sendOrder(info.id, order);
      this.log.info(
        { memberId: info.id, orderId: order.orderId },
        'member connected during its stage: order re-sent',
      );
      return;
    }
    // a member of this stage's groups that was unknown when it began (e.g. a NUT client logging in)
    if (!this.spec.groups.includes(info.group)) return;
    this.orderAll([info]);
  }

  onDisconnected(info: MemberInfo): void {
    if (this.late.has(info.id)) {
      this.lateGone(info);
      return;
    }
    if (this.state !== 'running' && !this.members.get(info.id)?.orderedAfterStage) return;
    const m = this.members.get(info.id);
    if (!m || m.isFinished) return;
    const now = this.ctx.clock.now();
    const byMaster = info.closedByMaster;
    if (m.disconnected(now, byMaster !== undefined)) {
      this.log.info(
        { memberId: m.id, kind: m.kind },
        'member confirmed down: connection closed after its order',
      );
      this.emit({
        kind: 'down',
        memberId: m.id,
        orderId: m.orderId,
        detail: info.goneDetail ?? 'connection closed',
        ts: now,
      });
      this.checkComplete();
      return;
    }
    if (m.state === 'offline' || m.state === 'pending') return;
    this.log.warn(
      { memberId: m.id, state: m.state, closedByMaster: byMaster },
      byMaster === undefined
        ? 'member disconnected before confirming: still waited for'
        : 'the master closed the connection of a member it waits for: not a confirmation, still waited for',
    );
    this.emit({
      kind: 'disconnected',
      memberId: m.id,
      orderId: m.orderId,
      detail: byMaster === undefined ? m.state : `${m.state}; closed by the master: ${byMaster}`,
      ts: now,
    });
  }

  /** Seen gone by its transport while not connected (sequencer.onGone): the confirmation a close would give. */
  gone(m: MemberProgress, detail: string): void {
    if (m.state !== 'going-down') return;
    const now = this.ctx.clock.now();
    if (!m.disconnected(now)) return;
    this.log.info({ memberId: m.id, kind: m.kind, detail }, 'member confirmed down: gone after its order');
    this.emit({ kind: 'down', memberId: m.id, orderId: m.orderId, detail, ts: now });
    this.checkComplete();
  }

  ack(m: MemberProgress): void {
    const now = this.ctx.clock.now();
    if (!m.ack(now)) return;
    this.log.info({ memberId: m.id, orderId: m.orderId }, 'order acknowledged');
    this.emit({ kind: 'ack', memberId: m.id, orderId: m.orderId, ts: now });
  }

  goingDown(m: MemberProgress, dryRun: boolean, hookFailures: number): void {
    const now = this.ctx.clock.now();
    const result = m.goingDown(dryRun, hookFailures, now);
    if (!result) return;
    this.log.info({ memberId: m.id, orderId: m.orderId, dryRun, hookFailures }, 'member going down');
    this.emit({
      kind: 'going-down',
      memberId: m.id,
      orderId: m.orderId,
      detail: dryRun ? 'dry-run' : 'real',
      ts: now,
    });
    if (result === 'down') {
      this.log.info({ memberId: m.id }, 'member confirmed down: dry-run going-down (it would now be down)');
      this.emit({ kind: 'down', memberId: m.id, orderId: m.orderId, detail: 'dry-run', ts: now });
      this.checkComplete();
    }
  }

  progress(
    m: MemberProgress,
    msg: Pick<ProgressMsg, 'hook' | 'of' | 'name' | 'status' | 'durationMs' | 'guest'>,
  ): void {
    const now = this.ctx.clock.now();
    m.progress(msg, now);
    const g = msg.guest;
    this.emit({
      ts: now,
      kind: 'progress',
      memberId: m.id,
      orderId: m.orderId,
      detail: g
        ? `${msg.hook}/${msg.of} ${msg.name}: ${g.kind} ${g.name} ${g.state}${g.durationMs !== undefined ? ` in ${g.durationMs} ms` : ''}`
        : `${msg.hook}/${msg.of} ${msg.name} ${msg.status}`,
    });
  }

  /**
   * A redundantly fed agent (its declared supplies) whose other supplies are lost now, as its hello or a
   * `supplies` message says: its stage has started or passed, so it is ordered now, with the same order id
   * (a running stage waits for it again up to its deadline; a finished one does not). Returns whether the
   * member is one this stage found redundantly fed (then nothing else is done for it).
   */
  onSupplies(info: MemberInfo): boolean {
    if (this.state === 'waiting') return false;
    const m = this.members.get(info.id);
    if (!m?.isRedundant) return false;
    if (redundantlyFed(info.supplies) || !info.connected) return true;
    const afterStage = !this.isActive;
    if (!m.needed(afterStage)) return true;
    if (this.state === 'settling') {
      // it was the last one left: the stage waits for it again, up to its deadline
      this.state = 'running';
      this.timer?.cancel();
      const remaining = Math.max(0, (this.deadline ?? 0) - this.ctx.clock.now());
      this.timer = this.ctx.clock.setTimer(remaining, () => this.onDeadline());
    }
    const why = `its other supplies are lost (${describeSupplies(info.supplies)})${afterStage ? '; ordered after its stage' : ''}`;
    this.log.warn(
      { memberId: m.id, orderId: m.orderId, supplies: info.supplies, afterStage },
      `ordered now: ${why}`,
    );
    const order = this.ctx.batch(() => this.prepareOrder(m, why));
    if (order) this.ctx.registry.sendOrder(m.id, order);
    return true;
  }

  /** The agent declined its order: its other supplies still feed it (it says so, with its count). */
  decline(m: MemberProgress, reason: string): void {
    const now = this.ctx.clock.now();
    if (!m.redundant(now)) return;
    m.orderedAfterStage = false;
    this.log.warn(
      { memberId: m.id, orderId: m.orderId, reason },
      'member declined its order: redundantly fed',
    );
    this.emit({ kind: 'redundantly-fed', ...memberRef(m), detail: `declined: ${reason}`, ts: now });
    this.checkComplete();
  }

  report(m: MemberProgress, hooks: DrillHookView[]): void {
    m.report(hooks);
    this.log.info({ memberId: m.id, hooks: hooks.length }, 'drill report received');
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Ends a stage that will never finish (a drill giving way, a drill found running on restart). */
  abandon(): void {
    this.stop();
    this.resolveEnded();
  }

  view(): StepView {
    return {
      ...waitingStepView(this.spec),
      state: this.state,
      startedAt: this.startedAt,
      deadline: this.deadline,
      endedAt: this.endedAt,
      endedBy: this.endedBy,
      members: [...this.members.values()].map((m) => m.view()),
    };
  }

  private add(info: MemberInfo): MemberProgress {
    const m = new MemberProgress(info.id, info.kind, info.group, `${this.ctx.runId}:${info.id}`);
    this.members.set(info.id, m);
    const downAt = this.ctx.downElsewhere(info.id);
    if (downAt !== undefined) {
      m.alreadyDown(downAt, this.ctx.clock.now());
      this.log.info({ memberId: info.id }, 'member already down with its early group: not ordered again');
      this.emit({
        kind: 'down',
        ...memberRef(m),
        downEarly: true,
        detail: 'down with its early group',
        ...(downAt === null ? {} : { downAt }),
      });
    } else if (info.kind === 'agent' && redundantlyFed(info.supplies)) {
      // its other UPSes keep it up: this master's outage does not take it down (NUT's MINSUPPLIES)
      const now = this.ctx.clock.now();
      m.redundant(now);
      this.log.info(
        { memberId: info.id, supplies: info.supplies },
        'member redundantly fed by its other supplies: not ordered, not waited for',
      );
      this.emit({
        kind: 'redundantly-fed',
        ...memberRef(m),
        detail: describeSupplies(info.supplies),
        ts: now,
      });
    } else if (info.kind === 'nut' && this.ctx.drill) {
      // a stock NUT client cannot rehearse (FSD would really shut it down): a drill skips it, and says so
      const now = this.ctx.clock.now();
      m.alreadyDown(now, now);
      this.log.info({ memberId: info.id }, 'drill: NUT client not ordered (it has no dry-run)');
      this.emit({
        kind: 'down',
        ...memberRef(m),
        detail: 'drill: NUT client not ordered',
        ts: now,
      });
    } else if (info.kind === 'nut' && !info.connected && info.leftAfterFsdAt !== undefined) {
      // a NUT client that saw the FSD latch (a primary's FSD) and left: down already, not waited for
      m.alreadyDown(info.leftAfterFsdAt, this.ctx.clock.now());
      this.log.info({ memberId: info.id }, 'NUT client already left after seeing FSD: confirmed down');
      this.emit({
        kind: 'down',
        ...memberRef(m),
        detail: 'left after seeing FSD',
        downAt: info.leftAfterFsdAt,
      });
    }
    return m;
  }

  /**
   * Adds and orders members in two phases: every order is journaled (one fsync for all of them), then
   * the orders leave. A master that dies in between re-sends the same orders after its restart.
   */
  private orderAll(infos: MemberInfo[]): void {
    const deliveries = this.ctx.batch(() => {
      const out: Array<{ m: MemberProgress; order: OrderMsg }> = [];
      for (const info of infos) {
        const m = this.add(info);
        if (this.state !== 'running' || m.isFinished) continue;
        const order = this.prepareOrder(m);
        if (order) out.push({ m, order });
      }
      return out;
    });
    for (const { m, order } of deliveries) {
      this.ctx.registry.sendOrder(m.id, order);
      this.log.info(
        { memberId: m.id, kind: m.kind, orderId: m.orderId, drill: this.ctx.drill },
        'order sent',
      );
    }
    this.checkComplete();
  }

  /**
   * A NUT client logging in after its stage stopped waiting for it (cut short at the deadline, confirmed
   * down and back, or a new session of a group already gone): NUT latches FSD, so it sees FSD at once and
   * shuts down. Journaled before it sees it; never waited for. Agents and drills are left alone.
   */
  private lateOrder(info: MemberInfo, known: MemberProgress | undefined): void {
    if (info.kind !== 'nut' || this.ctx.drill || !this.spec.groups.includes(info.group)) return;
    if (!this.isActive && !(this.ctx.showLate?.() ?? true)) return;
    const now = this.ctx.clock.now();
    const orderId = known?.orderId ?? `${this.ctx.runId}:${info.id}`;
    known?.lateOrdered(now);
    this.late.set(info.id, orderId);
    this.log.warn(
      { memberId: info.id, orderId, reached: known?.state ?? null },
      'NUT client logged in after its stage stopped waiting for it: shown FSD now (not waited for)',
    );
    this.emit({
      kind: 'late-order',
      memberId: info.id,
      orderId,
      memberKind: info.kind,
      group: info.group,
      detail: known ? known.state : 'not a member when its stage ran',
      ts: now,
    });
    this.ctx.registry.sendOrder(info.id, this.orderFor(orderId));
  }

  /** A late-ordered NUT client left: its own close is its going down (after its stage); the master's is not. */
  private lateGone(info: MemberInfo): void {
    const orderId = this.late.get(info.id)!;
    this.late.delete(info.id);
    if (info.closedByMaster !== undefined) {
      this.log.warn(
        { memberId: info.id, orderId, closedByMaster: info.closedByMaster },
        'the master closed a late-ordered NUT client: not a confirmation',
      );
      return;
    }
    const now = this.ctx.clock.now();
    this.members.get(info.id)?.lateDown(now);
    this.log.info({ memberId: info.id, orderId }, 'late-ordered NUT client left after seeing FSD: down late');
    this.emit({ kind: 'late-down', memberId: info.id, orderId, detail: 'connection closed', ts: now });
  }

  /** The order every (re-)send of this member carries: same id, same deadline. */
  private orderFor(orderId: string): OrderMsg {
    const { clock, reason, drill } = this.ctx;
    return envelop<OrderMsg>(
      {
        type: 'order',
        orderId,
        action: 'shutdown',
        reason,
        deadline: this.deadline ?? clock.now() + this.spec.deadlineMs,
        step: this.spec.index,
        drill,
      },
      clock.now(),
    );
  }

  /** Records the order (journal) and returns it when the member is connected to receive it. */
  private prepareOrder(m: MemberProgress, detail?: string): OrderMsg | null {
    const order = this.orderFor(m.orderId);
    const now = this.ctx.clock.now();
    const first = m.ordered(order, now);
    const who = { ...memberRef(m), ...(detail !== undefined ? { detail } : {}), ts: now };
    if (this.ctx.registry.isConnected(m.id)) {
      this.emit({ kind: 'order', ...who });
      return order;
    }
    m.undelivered(first);
    this.log.warn(
      { memberId: m.id, orderId: m.orderId },
      'member offline at its stage: waiting for it to connect',
    );
    this.emit({ kind: 'offline', ...who });
    return null;
  }

  private checkComplete(): void {
    if (this.state !== 'running') return;
    for (const m of this.members.values()) if (!m.isDown && !m.isRedundant) return;
    this.timer?.cancel();
    this.timer = null;
    this.log.info({ settleMs: this.spec.settleMs }, 'every member confirmed down');
    if (this.spec.settleMs <= 0) {
      this.end('confirmed');
      return;
    }
    this.state = 'settling';
    this.timer = this.ctx.clock.setTimer(this.spec.settleMs, () => {
      this.timer = null;
      this.end('confirmed');
    });
  }

  private onDeadline(): void {
    this.timer = null;
    if (this.state !== 'running') return;
    for (const m of this.members.values()) {
      const reached = m.state;
      // what its transport finds wrong (an SSH target's failed command, a host still answering)
      const why = this.ctx.registry.get(m.id)?.problem;
      if (!m.cutByDeadline(why)) continue;
      this.log.warn(
        { memberId: m.id, kind: m.kind, reached, orderId: m.orderId, why },
        'deadline: member cut short, not confirmed down',
      );
      this.emit({
        kind: 'deadline',
        memberId: m.id,
        orderId: m.orderId,
        detail: reached,
        ...(why !== undefined ? { why } : {}),
      });
      // a NUT client still connected, shown FSD but silent (frozen): its own close later is its going down
      if (m.kind === 'nut' && reached === 'ordered' && this.ctx.registry.isConnected(m.id))
        this.late.set(m.id, m.orderId);
    }
    this.end('deadline');
  }

  private end(by: StageEnd): void {
    this.timer?.cancel();
    this.timer = null;
    this.state = 'done';
    this.endedAt = this.ctx.clock.now();
    this.endedBy = by;
    const log = { endedBy: by, durationMs: this.endedAt - (this.startedAt ?? this.endedAt) };
    if (by === 'deadline') this.log.warn(log, 'stage ended by its deadline');
    else this.log.info(log, 'stage ended');
    this.emit({
      kind: this.spec.early !== undefined ? 'early-end' : 'step-end',
      endedBy: by,
      ts: this.endedAt,
    });
    this.resolveEnded();
    this.onEnd(this);
  }

  private emit(
    entry: Omit<TimelineEntry, 'ts' | 'runId' | 'drill' | 'step' | 'early'> & { ts?: number },
  ): void {
    this.ctx.emit({
      ...entry,
      ...(this.spec.index !== null ? { step: this.spec.index } : {}),
      ...(this.spec.early !== undefined ? { early: this.spec.early } : {}),
    });
  }
}

/** What a redundantly fed member declared, for the journal and the log. */
function describeSupplies(s: MemberInfo['supplies']): string {
  if (!s) return 'no supplies declared';
  return `others give ${s.others} of minSupplies ${s.minSupplies} (this UPS feeds ${s.powerValue} of ${s.total})`;
}

/** Who a timeline entry is about, with enough for a restarted master to know it without its connection. */
function memberRef(m: MemberProgress): Pick<TimelineEntry, 'memberId' | 'orderId' | 'memberKind' | 'group'> {
  return { memberId: m.id, orderId: m.orderId, memberKind: m.kind, group: m.group };
}
