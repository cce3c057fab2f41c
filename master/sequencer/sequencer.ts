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
import type { MemberProgress } from './member-progress.js';
import type {
  EarlyGroupView,
  FinalStepView,
  SequencerListener,
  SequenceState,
  SequenceView,
  TimelineEntry,
} from './sequence-view.js';
import { Stage, type StageContext, waitingStepView } from './stage.js';

export interface FinalStepContext {
  drill: boolean;
  reason: string;
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

type OrderReply = 'ack' | 'going-down' | 'progress' | 'drill-report';

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
    const run: FleetRun = {
      runId,
      reason,
      drill,
      startedAt: now,
      endedAt: null,
      state: 'running',
      stages: [],
      final: { startedAt: null, endedAt: null, error: null },
      abandoned: false,
      finished: Promise.resolve(),
    };
    let finish: () => void = () => {};
    run.finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    this.run = run;
    const ctx = this.stageContext(
      runId,
      reason,
      drill,
      (e) => this.emit(run, e),
      (id) => this.downEarly(id, drill),
    );
    run.stages = this.opts.steps.map(
      (spec, i) =>
        new Stage(
          { index: spec.index, groups: spec.groups, deadlineMs: spec.deadlineMs, settleMs: spec.settleMs },
          ctx,
          () => this.beginStep(run, i + 1, finish),
        ),
    );
    this.log.warn(
      { runId, reason, drill, steps: run.stages.length },
      drill ? 'drill sequence starts' : 'shutdown sequence starts',
    );
    this.emit(run, { kind: 'sequence-start', detail: reason });
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
      existing.stage.stop();
    }
    this.listenToRegistry();
    const now = this.clock.now();
    const runId = this.newRunId(`${group.slice(0, 20)}-`, now);
    const entry = { runId, drill };
    const ctx = this.stageContext(
      runId,
      reason,
      drill,
      (e) => this.emit(entry, e),
      () => undefined,
    );
    const stage = new Stage(
      { index: null, groups: [group], deadlineMs: spec.deadlineMs, settleMs: spec.settleMs, early: group },
      ctx,
      () => {},
    );
    this.early.set(group, { runId, reason, drill, stage });
    this.log.warn({ group, runId, reason, drill }, 'early group ordered down');
    stage.begin();
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

  private beginStep(run: FleetRun, index: number, finish: () => void): void {
    if (run.abandoned) return;
    const stage = run.stages[index];
    if (stage) {
      stage.begin();
      return;
    }
    void this.runFinal(run).finally(finish);
  }

  private async runFinal(run: FleetRun): Promise<void> {
    run.state = 'final';
    run.final.startedAt = this.clock.now();
    this.log.warn(
      { runId: run.runId, drill: run.drill },
      'every fleet step done: the master runs its final step',
    );
    this.emit(run, { kind: 'final-start' });
    try {
      await this.opts.finalStep({ drill: run.drill, reason: run.reason });
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

  private abandon(run: FleetRun): void {
    run.abandoned = true;
    for (const s of run.stages) s.stop();
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
      if (activeOnly && !stage.isActive) {
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
    });
  }

  private stageContext(
    runId: string,
    reason: string,
    drill: boolean,
    emit: StageContext['emit'],
    downElsewhere: StageContext['downElsewhere'],
  ): StageContext {
    return {
      clock: this.clock,
      log: this.log.child({ runId }),
      registry: this.opts.registry,
      runId,
      reason,
      drill,
      emit,
      downElsewhere,
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
    entry: Omit<TimelineEntry, 'ts' | 'runId' | 'drill'>,
  ): void {
    const full: TimelineEntry = { ts: this.clock.now(), runId: run.runId, drill: run.drill, ...entry };
    for (const l of [...this.listeners]) {
      try {
        l.timeline?.(full);
      } catch (err) {
        this.log.error({ err }, 'timeline listener threw');
      }
    }
  }
}
