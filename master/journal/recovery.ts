/**
 * The recovered state: what the journal says about the outage in progress, folded record by record.
 * The master journals every decision through the same reducer it replays on start, so the state a
 * restarted master resumes from is the state its predecessor had written down, no more, no less.
 * Only the current outage is kept: a finished run is history, and a new outage starts clean.
 */
import type { PowerEvent } from '../../shared/nut/events.js';
import { parseStatus } from '../../shared/nut/status.js';
import type { MemberView, StageEnd, StageState } from '../sequencer/sequence-view.js';
import type { StageSpec } from '../sequencer/stage.js';
import { reduceWake, type WakeState } from '../wake/wake-state.js';
import type { StoredRecord } from './journal-line.js';

/** A stage as it was planned when its run started (journaled with sequence-start / early-start). */
export type PlannedStage = StageSpec;

/** A member as the journal knows it: its progress view without what only a live process keeps (hooks, reports). */
export type RecoveredMember = Omit<
  MemberView,
  'hookFailures' | 'cutShortByDeadline' | 'hooks' | 'drillReport'
>;

export interface RecoveredStage {
  spec: PlannedStage;
  state: StageState;
  startedAt: number | null;
  deadline: number | null;
  endedAt: number | null;
  endedBy: StageEnd | null;
  members: Record<string, RecoveredMember>;
}

export interface RecoveredFinal {
  startedAt: number | null;
  hooksDone: boolean;
  /** 'sending': the decision was written, its result never was (the master died while sending). */
  killpower: 'sending' | 'ok' | 'failed' | null;
  /** When killpower was decided (epoch ms). */
  killpowerAt: number | null;
  poweredOff: boolean;
  poweredOffAt: number | null;
}

export interface RecoveredRun {
  runId: string;
  reason: string;
  drill: boolean;
  startedAt: number;
  state: 'running' | 'final' | 'done';
  stages: RecoveredStage[];
  final: RecoveredFinal;
}

export interface RecoveredEarly {
  group: string;
  runId: string;
  reason: string;
  drill: boolean;
  stage: RecoveredStage;
}

export interface RecoveredState {
  /** The last `ups.status` the master acted on (null before any data). */
  status: string | null;
  /** Events that status change caused and that were not journaled as sent yet. */
  pendingEvents: Array<{ event: PowerEvent; message: string }>;
  onBatterySince: number | null;
  /**
   * The latch, kept until mains are back with no run under way (NUT keeps FSD the same way); `runId` is
   * the real run it started (null: decided, but the master died before the sequence began).
   */
  critical: { reason: string; at: number; runId: string | null } | null;
  /** Early groups whose own trigger fired in this outage. */
  earlyFired: string[];
  run: RecoveredRun | null;
  early: Record<string, RecoveredEarly>;
  /** The last run that ended (kept for reports; never resumed). */
  lastRun: { runId: string; drill: boolean; endedAt: number; abandoned: boolean } | null;
  /** Waking early groups whose hosts left before mains returned (master/wake/wake-state.ts). */
  wake: WakeState;
}

export function emptyRecoveredState(): RecoveredState {
  return {
    status: null,
    pendingEvents: [],
    onBatterySince: null,
    critical: null,
    earlyFired: [],
    run: null,
    early: {},
    lastRun: null,
    wake: {},
  };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function member(stage: RecoveredStage, r: StoredRecord): RecoveredMember | null {
  const id = str(r.memberId);
  const orderId = str(r.orderId);
  if (!id) return null;
  let m = stage.members[id];
  if (!m && orderId) {
    m = {
      id,
      kind: r.memberKind === 'nut' || r.memberKind === 'ssh' ? r.memberKind : 'agent',
      group: str(r.group) ?? '',
      orderId,
      state: 'pending',
      orderedAt: null,
      ackAt: null,
      goingDownAt: null,
      downAt: null,
      disconnectedAt: null,
      dryRun: null,
      reachedAtDeadline: null,
      cutShortWhy: null,
      offlineAtStep: false,
      downEarly: false,
      redundantAt: null,
    };
    stage.members[id] = m;
  }
  return m ?? null;
}

function finished(m: RecoveredMember): boolean {
  return m.state === 'down' || m.state === 'deadline';
}

/** One timeline entry of a stage (order, ack, down, ...) applied to its member. */
function applyMemberEntry(stage: RecoveredStage, event: string, r: StoredRecord): void {
  const m = member(stage, r);
  if (!m) return;
  const ts = num(r.ts) ?? 0;
  const detail = str(r.detail);
  switch (event) {
    case 'order':
    case 'resend':
      if (finished(m)) return;
      m.orderedAt ??= ts;
      m.disconnectedAt = null;
      if (m.state === 'pending' || m.state === 'offline' || m.state === 'redundantly-fed')
        m.state = 'ordered';
      return;
    case 'redundantly-fed':
      if (finished(m)) return;
      m.state = 'redundantly-fed';
      m.redundantAt ??= ts;
      return;
    case 'offline':
      m.offlineAtStep = true;
      if (m.state === 'pending' || m.state === 'ordered') m.state = 'offline';
      return;
    case 'ack':
      if (finished(m)) return;
      m.ackAt ??= ts;
      if (m.state === 'ordered' || m.state === 'offline' || m.state === 'pending') m.state = 'acked';
      return;
    case 'going-down':
      if (finished(m)) return;
      m.ackAt ??= ts;
      m.goingDownAt = ts;
      m.dryRun = detail === 'dry-run';
      m.state = 'going-down';
      return;
    case 'down':
      m.state = 'down';
      // the instant it went down when the record was written later (early group, NUT client after FSD)
      m.downAt = num(r.downAt) ?? ts;
      m.disconnectedAt = null;
      if (r.downEarly === true) m.downEarly = true;
      return;
    case 'disconnected':
      if (!finished(m)) m.disconnectedAt = ts;
      return;
    case 'deadline':
      if (finished(m)) return;
      m.reachedAtDeadline = m.state as RecoveredMember['reachedAtDeadline'];
      m.cutShortWhy = str(r.why);
      m.state = 'deadline';
      return;
  }
}

/**
 * A NUT client shown its order after its stage stopped waiting (late-order) and its own close then
 * (late-down): only a member the stage knew, cut short at its deadline, keeps when that happened; the
 * state stays "cut short". A session that was no member of the stage is history only.
 */
function applyLateEntry(stage: RecoveredStage, event: string, r: StoredRecord): void {
  const id = str(r.memberId);
  const m = id ? stage.members[id] : undefined;
  const ts = num(r.ts);
  if (m?.state !== 'deadline' || ts === null) return;
  if (event === 'late-order') m.orderedAt ??= ts;
  else m.downAt ??= ts;
}

function newStage(spec: PlannedStage): RecoveredStage {
  return {
    spec,
    state: 'waiting',
    startedAt: null,
    deadline: null,
    endedAt: null,
    endedBy: null,
    members: {},
  };
}

function stageOf(state: RecoveredState, r: StoredRecord): RecoveredStage | null {
  const runId = str(r.runId);
  if (typeof r.early === 'string') {
    const e = state.early[r.early];
    return e && e.runId === runId ? e.stage : null;
  }
  const run = state.run;
  if (!run || run.runId !== runId || typeof r.step !== 'number') return null;
  return run.stages.find((s) => s.spec.index === r.step) ?? null;
}

function endRun(state: RecoveredState, ts: number, abandoned: boolean): void {
  const run = state.run;
  if (!run) return;
  run.state = 'done';
  state.lastRun = { runId: run.runId, drill: run.drill, endedAt: ts, abandoned };
  state.run = null;
  // mains came back while it ran: the outage ended with it
  if (!run.drill && !parseStatus(state.status ?? '').has('OB')) state.critical = null;
}

function applySequenceEntry(state: RecoveredState, r: StoredRecord): void {
  const event = str(r.event);
  const ts = num(r.ts) ?? 0;
  const runId = str(r.runId);
  if (!event || !runId) return;
  switch (event) {
    case 'sequence-start': {
      const plan = Array.isArray(r.plan) ? (r.plan as PlannedStage[]) : [];
      state.run = {
        runId,
        reason: str(r.detail) ?? '',
        drill: r.drill === true,
        startedAt: ts,
        state: 'running',
        stages: plan.map((p) => newStage({ ...p, groups: [...p.groups] })),
        final: {
          startedAt: null,
          hooksDone: false,
          killpower: null,
          killpowerAt: null,
          poweredOff: false,
          poweredOffAt: null,
        },
      };
      if (r.drill !== true && state.critical) state.critical.runId = runId;
      return;
    }
    case 'early-start': {
      const group = str(r.early);
      const plan = r.plan as PlannedStage | undefined;
      if (!group || !plan) return;
      const stage = newStage({ ...plan, groups: [...plan.groups] });
      stage.state = 'running';
      stage.startedAt = ts;
      stage.deadline = num(r.deadline);
      state.early[group] = { group, runId, reason: str(r.detail) ?? '', drill: r.drill === true, stage };
      return;
    }
    case 'step-start': {
      const stage = stageOf(state, r);
      if (!stage) return;
      stage.state = 'running';
      stage.startedAt = ts;
      stage.deadline = num(r.deadline);
      return;
    }
    case 'step-end':
    case 'early-end': {
      const stage = stageOf(state, r);
      if (!stage) return;
      stage.state = 'done';
      stage.endedAt = ts;
      stage.endedBy = (str(r.endedBy) as StageEnd | null) ?? null;
      return;
    }
    case 'final-start':
      if (state.run?.runId === runId) {
        state.run.state = 'final';
        state.run.final.startedAt = ts;
      }
      return;
    case 'done':
      if (state.run?.runId === runId) endRun(state, ts, false);
      return;
    case 'abandoned':
      if (state.run?.runId === runId) endRun(state, ts, true);
      else if (typeof r.early === 'string' && state.early[r.early]?.runId === runId)
        delete state.early[r.early];
      return;
    default: {
      const stage = stageOf(state, r);
      if (!stage) return;
      if (event === 'late-order' || event === 'late-down') applyLateEntry(stage, event, r);
      else applyMemberEntry(stage, event, r);
    }
  }
}

function applyStatus(state: RecoveredState, r: StoredRecord): void {
  const status = str(r.status);
  if (status === null) return;
  const onBattery = parseStatus(status).has('OB');
  const outageOver = state.critical === null && state.run === null;
  if (onBattery && state.onBatterySince === null) {
    // a new outage: what earlier outages left behind (early groups that returned) starts over
    if (outageOver && parseStatus(state.status ?? '').has('OB') === false) {
      state.earlyFired = [];
      for (const [g, e] of Object.entries(state.early)) if (e.stage.state === 'done') delete state.early[g];
    }
    state.onBatterySince = num(r.onBatterySince) ?? num(r.ts);
  }
  state.pendingEvents = Array.isArray(r.events) ? (r.events as RecoveredState['pendingEvents']) : [];
  if (!onBattery) {
    state.onBatterySince = null;
    // the outage is over once mains are back and no run is under way: the latch goes with it
    if (state.run === null) state.critical = null;
  }
  state.status = status;
}

/** Folds one record. Mutates and returns `state` (the journal owns it); unknown kinds are ignored. */
export function reduceRecovered(state: RecoveredState, r: StoredRecord): RecoveredState {
  // the wake fold sees the record with the state as it was before it (early runs, a real run under way)
  if (r.kind !== 'checkpoint') {
    state.wake ??= {};
    reduceWake(state.wake, r, {
      earlyRuns: Object.values(state.early),
      realRun: state.run !== null && !state.run.drill,
    });
  }
  switch (r.kind) {
    case 'checkpoint':
      // a checkpoint written before a field existed gets its empty value
      return { ...emptyRecoveredState(), ...structuredClone(r.state as RecoveredState) };
    case 'wake': {
      // the woken group is up again: a later shutdown (this outage's critical, the next outage) orders it anew
      const group = str(r.group);
      if (group && state.early[group]?.runId === str(r.runId)) {
        delete state.early[group];
        state.earlyFired = state.earlyFired.filter((g) => g !== group);
      }
      return state;
    }
    case 'status':
      applyStatus(state, r);
      return state;
    case 'event': {
      const i = state.pendingEvents.findIndex((e) => e.event === r.event);
      if (i >= 0) state.pendingEvents.splice(i, 1);
      return state;
    }
    case 'critical':
      state.critical ??= { reason: str(r.reason) ?? 'critical', at: num(r.ts) ?? 0, runId: null };
      return state;
    case 'latch-released':
      state.critical = null;
      return state;
    case 'early':
      if (typeof r.group === 'string' && !state.earlyFired.includes(r.group)) state.earlyFired.push(r.group);
      return state;
    case 'sequence':
      applySequenceEntry(state, r);
      return state;
    case 'master-hooks':
      if (state.run) state.run.final.hooksDone = true;
      return state;
    case 'killpower-sending':
      if (state.run) {
        state.run.final.killpower = 'sending';
        state.run.final.killpowerAt = num(r.ts);
      }
      return state;
    case 'killpower':
      if (state.run) state.run.final.killpower = r.ok === true ? 'ok' : 'failed';
      return state;
    case 'master-poweroff':
      if (state.run) {
        state.run.final.poweredOff = true;
        state.run.final.poweredOffAt = num(r.ts);
      }
      return state;
    default:
      return state;
  }
}
