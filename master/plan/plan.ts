/**
 * The battery budget: does the fleet sequence fit in the UPS's current battery.runtime with a margin?
 * Each step costs what the last drill measured for it (when its groups are unchanged), else its deadline
 * (the longest it can take). A drill measures hooks and acks; a real host also needs its OS shutdown after
 * going-down, which is why a margin is kept. Pure: the master and `upsfleet plan` show the same thing.
 */
import type { StepSpec } from '../../shared/config/master-settings.js';
import type { DrillReport } from '../drill/drill-report.js';

export interface PlanStep {
  index: number;
  groups: string[];
  durationMs: number;
  from: 'drill' | 'deadline';
}

export interface PlanView {
  steps: PlanStep[];
  /** The master's final step as the last drill measured it (0 when never measured). */
  finalMs: number;
  requiredMs: number;
  marginMs: number;
  /** battery.runtime now, in ms; null when the UPS does not report it. */
  runtimeMs: number | null;
  /** runtime - required - margin; null without a runtime. */
  spareMs: number | null;
  /** null: cannot tell (no runtime). */
  fits: boolean | null;
  drill: { runId: string; at: number } | null;
}

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

export function computePlan(opts: {
  steps: readonly StepSpec[];
  drill: DrillReport | null;
  marginMs: number;
  runtime: string | undefined;
}): PlanView {
  const { drill } = opts;
  const steps = opts.steps.map((spec): PlanStep => {
    const measured = drill?.steps.find((s) => s.index === spec.index && sameGroups(s.groups, spec.groups));
    // a step the drill finished by its deadline says nothing better than the deadline itself
    if (measured && measured.durationMs !== null && measured.endedBy !== 'deadline') {
      return { index: spec.index, groups: [...spec.groups], durationMs: measured.durationMs, from: 'drill' };
    }
    return {
      index: spec.index,
      groups: [...spec.groups],
      durationMs: spec.deadlineMs + spec.settleMs,
      from: 'deadline',
    };
  });
  const finalMs = drill?.final.durationMs ?? 0;
  const requiredMs = steps.reduce((t, s) => t + s.durationMs, 0) + finalMs;
  const seconds = opts.runtime === undefined ? Number.NaN : Number(opts.runtime);
  const runtimeMs = Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : null;
  const spareMs = runtimeMs === null ? null : runtimeMs - requiredMs - opts.marginMs;
  return {
    steps,
    finalMs,
    requiredMs,
    marginMs: opts.marginMs,
    runtimeMs,
    spareMs,
    fits: spareMs === null ? null : spareMs >= 0,
    drill: drill ? { runId: drill.runId, at: drill.startedAt } : null,
  };
}
