/**
 * The sequencer: the ordered, confirmed fleet shutdown. Steps run one after the other; step n+1 is never
 * ordered before every member of step n is confirmed down (plus settle) or step n's deadline passed.
 * After the last step the master's own final step runs (hooks, killpower, power-off). Early groups run
 * on their own, independently. There is no cancel: once started, a real sequence runs to the end (NUT
 * latches FSD the same way); only a drill gives way when a real sequence starts.
 */
import type { Clock } from '../../shared/clock.js';
import type { EarlyGroupSpec, StepSpec } from '../../shared/config/master-settings.js';
import type { Logger } from '../../shared/logger.js';
import type { DrillReportMsg, ProgressMsg } from '../../shared/protocol/messages.js';
import type { FleetRegistry, MemberInfo } from '../fleet/registry.js';
import type { RecoveredFinal, RecoveredRun, RecoveredStage, RecoveredState } from '../journal/recovery.js';
import type { MemberProgress } from './member-progress.js';
import type {
  EarlyGroupView,
  FinalStepView,
  SequencerListener,
  SequenceState,
  SequenceView,
  TimelineEntry,
} from './sequence-view.js';
import { Stage, type StageContext, type StageSpec, waitingStepView } from './stage.js';

export interface FinalStepContext {
  drill: boolean;
  reason: string;
  /** A final step that a previous master process had begun: what it had already done. */
  resumed?: RecoveredFinal;
}

export interface SequencerOptions {
  clock: Clock;
  logger: Logger;
  masterId: string;
  steps: StepSpec[];
  earlyGroups: EarlyGroupSpec[];
  registry: FleetRegistry;
  /** The master's implicit last step, awaited after every fleet step. */
  finalStep: (ctx: FinalStepContext) => Promise<void>;
  /** Makes the records emitted inside `fn` durable once, at its end (the journal's batch). */
  batch?: <T>(fn: () => T) => T;
}

/** What `resume` found in the journal and did with it (journaled as the `resume` record). */
export interface ResumeSummary {
  runId: string | null;
  /** running: continues at `step`; final: the final step continues; none: nothing to resume. */
  phase: 'none' | 'running' | 'final';
  step: number | null;
  membersDown: string[];
  membersWaited: string[];
  early: string[];
  /** Drills found running: closed as abandoned (a drill is never resumed). */
  abandonedDrills: string[];
}

interface FleetRun {
  runId: string;
  reason: string;
  drill: boolean;
  startedAt: number;
  endedAt: number | null;
  state: SequenceState;
  stages: Stage[];
  final: FinalStepView;
  abandoned: boolean;
  finished: Promise<void>;
}

interface EarlyRun {
  runId: string;
  reason: string;
  drill: boolean;
  stage: Stage;
}

type OrderReply = 'ack' | 'going-down' | 'progress' | 'drill-report' | 'decline' | 'gone';

export class Sequencer {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly listeners = new Set<SequencerListener>();
  private readonly early = new Map<string, EarlyRun>();
  private run: FleetRun | null = null;
  private runSeq = 0;
  private ignored = 0;
  private detachRegistry: (() => void) | null = null;

  constructor(private readonly opts: SequencerOptions) {
    this.clock = opts.clock;
    this.log = opts.logger;
  }

  /**
   * Starts the fleet sequence. Idempotent: a running or finished real sequence is never started again; a
   * drill may be repeated once the previous one is done, and gives way to a real sequence at once.
   */
  start(reason: string, options: { drill?: boolean } = {}): void {
    const drill = options.drill ?? false;
    const current = this.run;
    if (current) {
      if (!current.drill || (drill && current.state !== 'done')) {
        this.log.info(
          { reason, drill, runId: current.runId, state: current.state },
          'sequence already started: ignored',
        );
        return;
      }
      if (!drill && current.state !== 'done') {
        this.log.warn(
          { reason, drillRunId: current.runId },
          'real shutdown during a drill: the drill gives way',
        );
        this.abandon(current);
      }
    }
    this.listenToRegistry();
    const now = this.clock.now();
    const runId = this.newRunId('', now);
    const plan: StageSpec[] = this.opts.steps.map((st) => ({
      index: st.index,
      groups: [...st.groups],
      deadlineMs: st.deadlineMs,
      settleMs: st.settleMs,
    }));
    const { run, finish } = this.createRun(runId, reason, drill, now, plan);
    this.log.warn(
      { runId, reason, drill, steps: run.stages.length },
      drill ? 'drill sequence starts' : 'shutdown sequence starts',
    );
    this.emit(run, { kind: 'sequence-start', detail: reason, plan });
    // every early group must be gone too; those already running or down are left as they are
    for (const group of this.opts.earlyGroups) this.startEarly(group.name, reason, { drill });
    this.beginStep(run, 0, finish);
  }

  /** Orders one early group down on its own. Idempotent per group (a real one replaces a drill). */
  startEarly(group: string, reason: string, options: { drill?: boolean } = {}): void {
    const drill = options.drill ?? false;
    const spec = this.opts.earlyGroups.find((g) => g.name === group);
    if (!spec) {
      this.log.warn({ group, reason }, 'not an early group: ignored');
      return;
    }
    const existing = this.early.get(group);
    if (existing) {
      if (!existing.drill || (drill && existing.stage.state !== 'done')) {
        this.log.info({ group, reason, runId: existing.runId }, 'early group already started: ignored');
        return;
      }
      existing.stage.abandon();
      if (existing.stage.state !== 'done')
        this.emit(existing, {
          kind: 'abandoned',
          early: group,
          detail: 'a real shutdown replaces the drill',
        });
    }
    this.listenToRegistry();
    const runId = this.newRunId(`${group.slice(0, 20)}-`, this.clock.now());
    const stage = this.createEarly(group, runId, reason, drill, {
      index: null,
      groups: [group],
      deadlineMs: spec.deadlineMs,
      settleMs: spec.settleMs,
      early: group,
    });
    this.log.warn({ group, runId, reason, drill }, 'early group ordered down');
    stage.begin();
  }

  /**
   * Forgets an early group's ended run, so that its trigger (or the fleet sequence) orders the group
   * anew: its hosts were woken, or a new outage began. A run still under way is kept. Returns whether one
   * was forgotten. The journal folds the same (recovery.ts: a `wake` record, a new outage's status).
   */
  forgetEarly(group: string): boolean {
    const run = this.early.get(group);
    if (!run || run.stage.isActive || run.stage.state === 'waiting') return false;
    run.stage.stop();
    this.early.delete(group);
    this.log.info({ group, runId: run.runId }, 'early group run forgotten: the group can be ordered again');
    return true;
  }

  /**
   * Rebuilds what the journal recorded, before the master serves anyone: early groups first (a fleet
   * step must know who already left with them), then the fleet run, which continues at its current step
   * with the same run id, order ids and deadlines, or in its final step. Drills are closed as abandoned.
   */
  resume(state: RecoveredState): ResumeSummary {
    const summary: ResumeSummary = {
      runId: null,
      phase: 'none',
      step: null,
      membersDown: [],
      membersWaited: [],
      early: [],
      abandonedDrills: [],
    };
    const tally = (rec: RecoveredStage) => {
      for (const m of Object.values(rec.members)) {
        if (m.state === 'down') summary.membersDown.push(m.id);
        else if (m.state !== 'deadline') summary.membersWaited.push(m.id);
      }
    };
    const resumedEarly: Stage[] = [];
    for (const e of Object.values(state.early)) {
      if (e.drill && e.stage.state !== 'done') {
        this.emit(e, { kind: 'abandoned', early: e.group, detail: 'drill interrupted by a master restart' });
        summary.abandonedDrills.push(e.runId);
        continue;
      }
      this.listenToRegistry();
      const stage = this.createEarly(e.group, e.runId, e.reason, e.drill, { ...e.stage.spec });
      stage.restore(e.stage);
      tally(e.stage);
      if (stage.isActive) {
        summary.early.push(e.group);
        resumedEarly.push(stage);
      }
    }
    const rec = state.run;
    if (rec?.drill) {
      const why = 'drill interrupted by a master restart';
      this.emit({ runId: rec.runId, drill: true }, { kind: 'abandoned', detail: why });
      summary.abandonedDrills.push(rec.runId);
    } else if (rec) {
      this.resumeRun(rec, summary, tally);
    }
    for (const stage of resumedEarly) stage.resume();
    return summary;
  }

  onAck(memberId: string, orderId: string): boolean {
    const hit = this.locate(memberId, orderId, 'ack', true);
    if (hit) hit.stage.ack(hit.member);
    return hit !== null;
  }

  onGoingDown(memberId: string, orderId: string, dryRun: boolean, hookFailures = 0): boolean {
    const hit = this.locate(memberId, orderId, 'going-down', true);
    if (hit) hit.stage.goingDown(hit.member, dryRun, hookFailures);
    return hit !== null;
  }

  /**
   * A member that is not connected was seen gone by its own transport after it accepted its order: an SSH
   * target whose confirmation watch a restarted master resumed (it never "connected" to this process, so
   * there is no close to confirm it). Confirms only a member going down, as a close would.
   */
  onGone(memberId: string, orderId: string, detail: string): boolean {
    const hit = this.locate(memberId, orderId, 'gone', true);
    if (hit) hit.stage.gone(hit.member, detail);
    return hit !== null;
  }

  /** The agent will not go down at this order: its other supplies still feed it (redundantly fed). */
  onDecline(memberId: string, orderId: string, reason: string): boolean {
    const hit = this.locate(memberId, orderId, 'decline', false);
    if (hit) hit.stage.decline(hit.member, reason);
    return hit !== null;
  }

  /** Hook progress is recorded even after the stage ended (it explains a deadline). */
  onProgress(
    memberId: string,
    msg: Pick<ProgressMsg, 'orderId' | 'hook' | 'of' | 'name' | 'status' | 'durationMs'>,
  ): boolean {
    const hit = this.locate(memberId, msg.orderId, 'progress', false);
    if (hit) hit.stage.progress(hit.member, msg);
    return hit !== null;
  }

  /** A drill report follows the going-down, so it usually arrives after its stage confirmed it. */
  onDrillReport(memberId: string, msg: Pick<DrillReportMsg, 'orderId' | 'hooks'>): boolean {
    const hit = this.locate(memberId, msg.orderId, 'drill-report', false);
    if (hit) hit.stage.report(hit.member, msg.hooks);
    return hit !== null;
  }

  subscribe(listener: SequencerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when the current fleet run is done (at once when there is none). */
  whenDone(): Promise<void> {
    return this.run?.finished ?? Promise.resolve();
  }

  view(): SequenceView {
    const run = this.run;
    return {
      state: run?.state ?? 'idle',
      runId: run?.runId ?? null,
      reason: run?.reason ?? null,
      drill: run?.drill ?? false,
      startedAt: run?.startedAt ?? null,
      endedAt: run?.endedAt ?? null,
      steps: run ? run.stages.map((s) => s.view()) : this.opts.steps.map((s) => waitingStepView({ ...s })),
      early: this.opts.earlyGroups.map((spec) => this.earlyView(spec)),
      final: { ...(run?.final ?? { startedAt: null, endedAt: null, error: null }) },
      ignoredMessages: this.ignored,
    };
  }

  stop(): void {
    this.detachRegistry?.();
    this.detachRegistry = null;
    if (this.run) for (const s of this.run.stages) s.stop();
    for (const e of this.early.values()) e.stage.stop();
  }

  private createRun(
    runId: string,
    reason: string,
    drill: boolean,
    startedAt: number,
    plan: StageSpec[],
  ): { run: FleetRun; finish: () => void } {
    let finish: () => void = () => {};
    const run: FleetRun = {
      runId,
      reason,
      drill,
      startedAt,
      endedAt: null,
      state: 'running',
      stages: [],
      final: { startedAt: null, endedAt: null, error: null },
      abandoned: false,
      finished: new Promise<void>((resolve) => {
        finish = resolve;
      }),
    };
    this.run = run;
    const ctx = this.stageContext(
      runId,
      reason,
      drill,
      (e) => this.emit(run, e),
      (id) => this.downEarly(id, drill),
      () => !run.abandoned,
    );
    run.stages = plan.map((spec, i) => new Stage({ ...spec }, ctx, () => this.beginStep(run, i + 1, finish)));
    return { run, finish };
  }

  private createEarly(group: string, runId: string, reason: string, drill: boolean, spec: StageSpec): Stage {
    const entry = { runId, drill };
    const ctx = this.stageContext(
      runId,
      reason,
      drill,
      (e) => this.emit(entry, e),
      () => undefined,
      // a group that left early sees FSD again on a late login only once the whole fleet goes down
      () => this.run !== null && !this.run.drill && !this.run.abandoned,
    );
    const stage = new Stage(spec, ctx, () => {});
    this.early.set(group, { runId, reason, drill, stage });
    return stage;
  }

  private resumeRun(rec: RecoveredRun, summary: ResumeSummary, tally: (s: RecoveredStage) => void): void {
    this.listenToRegistry();
    const { run, finish } = this.createRun(
      rec.runId,
      rec.reason,
      false,
      rec.startedAt,
      rec.stages.map((st) => st.spec),
    );
    rec.stages.forEach((st, i) => {
      run.stages[i]!.restore(st);
      tally(st);
    });
    summary.runId = rec.runId;
    if (rec.state === 'final') {
      summary.phase = 'final';
      run.state = 'final';
      void this.runFinal(run, rec.final).finally(finish);
      return;
    }
    summary.phase = 'running';
    const current = run.stages.findIndex((st) => st.state !== 'done');
    summary.step = current < 0 ? null : (run.stages[current]!.spec.index ?? null);
    this.log.warn(
      { runId: run.runId, step: summary.step, down: summary.membersDown.length },
      'shutdown sequence resumed from the journal',
    );
    if (current < 0) {
      void this.runFinal(run).finally(finish);
      return;
    }
    const stage = run.stages[current]!;
    if (stage.state === 'waiting') stage.begin();
    else stage.resume();
  }

  private beginStep(run: FleetRun, index: number, finish: () => void): void {
    if (run.abandoned) return;
    const stage = run.stages[index];
    if (stage) {
      stage.begin();
      return;
    }
    void this.runFinal(run).finally(finish);
  }

  private async runFinal(run: FleetRun, resumed?: RecoveredFinal): Promise<void> {
    // early groups still under way (ordered at critical, or on their own trigger) go before the master
    const early = [...this.early.entries()].filter(([, e]) => e.stage.isActive && (run.drill || !e.drill));
    if (early.length > 0) {
      this.log.warn(
        { runId: run.runId, groups: early.map(([g]) => g) },
        'final step waits for early groups still going down',
      );
      this.emit(run, { kind: 'final-wait', detail: early.map(([g]) => g).join(' ') });
      await Promise.all(early.map(([, e]) => e.stage.ended));
    }
    if (run.abandoned) return;
    run.state = 'final';
    run.final.startedAt = resumed?.startedAt ?? this.clock.now();
    this.log.warn(
      { runId: run.runId, drill: run.drill, resumed: resumed !== undefined },
      'every fleet step done: the master runs its final step',
    );
    if (!resumed) this.emit(run, { kind: 'final-start' });
    try {
      await this.opts.finalStep({ drill: run.drill, reason: run.reason, ...(resumed ? { resumed } : {}) });
    } catch (err) {
      run.final.error = err instanceof Error ? err.message : String(err);
      this.log.error({ err, runId: run.runId }, 'final step failed');
    }
    run.final.endedAt = this.clock.now();
    this.emit(run, { kind: 'final-end', ...(run.final.error ? { detail: run.final.error } : {}) });
    run.state = 'done';
    run.endedAt = this.clock.now();
    this.log.info({ runId: run.runId, durationMs: run.endedAt - run.startedAt }, 'sequence done');
    this.emit(run, { kind: 'done' });
  }

  private abandon(run: FleetRun, why = 'a real shutdown replaces the drill'): void {
    run.abandoned = true;
    for (const s of run.stages) s.abandon();
    run.state = 'done';
    run.endedAt = this.clock.now();
    this.emit(run, { kind: 'abandoned', detail: why });
  }

  /** Finds the member a reply is about: the order id must be the one it was sent in a stage we run. */
  private locate(
    memberId: string,
    orderId: string,
    what: OrderReply,
    activeOnly: boolean,
  ): { stage: Stage; member: MemberProgress } | null {
    let why = 'not a member of any running stage';
    for (const stage of this.stages()) {
      const member = stage.member(memberId);
      if (!member) continue;
      if (member.orderId !== orderId) {
        why = 'wrong order id';
        continue;
      }
      // an agent ordered after its stage (its other supplies were lost then) still answers for the record
      if (activeOnly && !stage.isActive && !member.orderedAfterStage) {
        why = `its stage is ${stage.state}`;
        continue;
      }
      return { stage, member };
    }
    this.ignored++;
    this.log.warn({ memberId, orderId, message: what, why }, 'reply ignored');
    return null;
  }

  private stages(): Stage[] {
    return [...(this.run?.stages ?? []), ...[...this.early.values()].map((e) => e.stage)];
  }

  private downEarly(memberId: string, drill: boolean): number | null | undefined {
    for (const e of this.early.values()) {
      // a member that only pretended in an early drill is still up for a real run
      if (e.drill && !drill) continue;
      const m = e.stage.member(memberId);
      if (m?.isDown) return m.downAtMs;
    }
    return undefined;
  }

  private listenToRegistry(): void {
    if (this.detachRegistry) return;
    this.detachRegistry = this.opts.registry.subscribe({
      connected: (info: MemberInfo) => {
        for (const s of this.stages()) s.onConnected(info);
      },
      disconnected: (info: MemberInfo) => {
        for (const s of this.stages()) s.onDisconnected(info);
      },
      supplies: (info: MemberInfo) => {
        for (const s of this.stages()) s.onSupplies(info);
      },
    });
  }

  private stageContext(
    runId: string,
    reason: string,
    drill: boolean,
    emit: StageContext['emit'],
    downElsewhere: StageContext['downElsewhere'],
    showLate: NonNullable<StageContext['showLate']>,
  ): StageContext {
    return {
      clock: this.clock,
      log: this.log.child({ runId }),
      registry: this.opts.registry,
      runId,
      reason,
      drill,
      emit,
      batch: this.opts.batch ?? ((fn) => fn()),
      downElsewhere,
      showLate,
    };
  }

  /** Short enough that `${runId}:${memberId}` fits an order id (128). */
  private newRunId(prefix: string, now: number): string {
    this.runSeq++;
    return `${this.opts.masterId.slice(0, 32)}-${prefix}${now.toString(36)}-${this.runSeq}`;
  }

  private earlyView(spec: EarlyGroupSpec): EarlyGroupView {
    const run = this.early.get(spec.name);
    const base = run
      ? run.stage.view()
      : waitingStepView({
          index: null,
          groups: [spec.name],
          deadlineMs: spec.deadlineMs,
          settleMs: spec.settleMs,
        });
    return {
      ...base,
      group: spec.name,
      runId: run?.runId ?? null,
      reason: run?.reason ?? null,
      drill: run?.drill ?? false,
    };
  }

  private emit(
    run: { runId: string; drill: boolean },
    entry: Omit<TimelineEntry, 'ts' | 'runId' | 'drill'> & { ts?: number },
  ): void {
    const full: TimelineEntry = {
      ...entry,
      ts: entry.ts ?? this.clock.now(),
      runId: run.runId,
      drill: run.drill,
    };
    for (const l of [...this.listeners]) {
      try {
        l.timeline?.(full);
      } catch (err) {
        this.log.error({ err }, 'timeline listener threw');
      }
    }
  }
}
