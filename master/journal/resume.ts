/**
 * Resume on start: hands what the journal recovered to the policy and the sequencer before the master
 * serves anyone, journals a `resume` record saying what was found, and restarts a sequence that was
 * decided (critical latched) but never got going. A run whose final step already powered the master off,
 * or whose killpower predates the current boot (the UPS power-cycled us, or someone rebooted), is over:
 * it is closed, never resumed, so a master booting after a power cycle does not power itself off again.
 */
import type { Clock } from '../../shared/clock.js';
import type { StepSpec } from '../../shared/config/master-settings.js';
import type { Logger } from '../../shared/logger.js';
import type { Policy } from '../policy/policy.js';
import type { ResumeSummary, Sequencer } from '../sequencer/sequencer.js';
import type { JournalRecord } from './journal-line.js';
import type { RecoveredRun, RecoveredState } from './recovery.js';

export interface ResumeDeps {
  state: RecoveredState;
  policy: Policy;
  sequencer: Sequencer;
  journal: { write(record: JournalRecord): unknown };
  clock: Clock;
  logger: Logger;
  /** Epoch ms at which this host booted. */
  bootedAt: number;
  /** The sequence as configured now (it may have been edited since the run began). */
  configured?: readonly StepSpec[];
}

export interface ResumeResult extends ResumeSummary {
  /** A critical latch whose run never started: the sequence was started now. */
  startedLatched: boolean;
  closedRun: string | null;
  /** The configured sequence differs from the one the resumed run started with (which it keeps). */
  planChanged: boolean;
}

function samePlan(run: RecoveredRun, configured: readonly StepSpec[]): boolean {
  const shape = (steps: ReadonlyArray<Pick<StepSpec, 'groups' | 'deadlineMs' | 'settleMs'>>) =>
    JSON.stringify(steps.map((s) => [s.groups, s.deadlineMs, s.settleMs]));
  return shape(run.stages.map((st) => st.spec)) === shape(configured);
}

/**
 * A run in its final step that must not be resumed: its power-off was done (nothing is left to do in
 * this boot), or killpower/power-off predate this boot (that outage is over: the latch goes too).
 */
function runIsOver(state: RecoveredState, bootedAt: number): { why: string; release: boolean } | null {
  const run = state.run;
  if (!run || run.drill || run.state !== 'final') return null;
  const { killpowerAt, poweredOffAt } = run.final;
  const lastAct = Math.max(killpowerAt ?? Number.NEGATIVE_INFINITY, poweredOffAt ?? Number.NEGATIVE_INFINITY);
  if (lastAct !== Number.NEGATIVE_INFINITY && lastAct < bootedAt)
    return { why: 'the host booted again after the final step', release: true };
  if (run.final.poweredOff) return { why: 'its final step had run to the power-off', release: false };
  return null;
}

export function resumeFromJournal(deps: ResumeDeps): ResumeResult | null {
  const { state, policy, sequencer, journal, clock, logger } = deps;
  const over = runIsOver(state, deps.bootedAt);
  let closedRun: string | null = null;
  if (over && state.run) {
    closedRun = state.run.runId;
    logger.warn({ runId: closedRun, why: over.why }, 'the last shutdown run is over: closed, not resumed');
    // folded like any record: the run ends and the critical latch with it
    journal.write({
      kind: 'sequence',
      event: 'done',
      ts: clock.now(),
      runId: closedRun,
      drill: false,
      detail: `closed at start: ${over.why}`,
    });
    // that outage is over for this boot: what the UPS says now decides anew
    if (over.release) journal.write({ kind: 'latch-released', ts: clock.now(), reason: over.why });
  }
  const found =
    state.run !== null ||
    Object.keys(state.early).length > 0 ||
    state.critical !== null ||
    state.onBatterySince !== null;
  policy.restore({
    status: state.status,
    onBatterySince: state.onBatterySince,
    criticalReason: state.critical?.reason ?? null,
    earlyFired: state.earlyFired,
    pendingEvents: state.pendingEvents,
  });
  if (!found && closedRun === null) return null;
  const planChanged =
    state.run !== null &&
    !state.run.drill &&
    deps.configured !== undefined &&
    !samePlan(state.run, deps.configured);
  if (planChanged) {
    logger.warn(
      { runId: state.run?.runId },
      'the configured sequence changed during the outage: the run in progress keeps the sequence it started with; the new one applies from the next outage',
    );
  }
  const summary = sequencer.resume(state);
  // decided but never started (died between the critical record and the first order): start it now
  const startedLatched = state.critical !== null && state.critical.runId === null && summary.phase === 'none';
  journal.write({
    kind: 'resume',
    ts: clock.now(),
    status: state.status,
    onBatterySince: state.onBatterySince,
    critical: state.critical,
    earlyFired: state.earlyFired,
    ...summary,
    startedLatched,
    closedRun,
    planChanged,
  });
  logger.warn(
    {
      runId: summary.runId,
      phase: summary.phase,
      step: summary.step,
      down: summary.membersDown,
      waited: summary.membersWaited,
      onBatterySince: state.onBatterySince,
      critical: state.critical?.reason ?? null,
      closedRun,
    },
    'resumed from the journal',
  );
  if (startedLatched) sequencer.start(state.critical!.reason);
  return { ...summary, startedLatched, closedRun, planChanged };
}
