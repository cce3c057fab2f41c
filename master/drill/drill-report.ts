/**
 * The drill's result, built from the sequencer's view once a drill run is done: per step its measured
 * duration, per host the ack latency, hook durations, the would-be shutdown time and what went wrong.
 * Pure: the CLI prints it, the master persists it and the plan uses its step durations.
 */
import type { MemberView, SequenceView, StepView } from '../sequencer/sequence-view.js';

export interface DrillHostReport {
  id: string;
  kind: string;
  group: string;
  step: number | null;
  /** Order sent -> ack received. */
  ackLatencyMs: number | null;
  /** Order sent -> going-down (hooks done: a real host would now power off). */
  shutdownMs: number | null;
  /** Drill start -> going-down: when this host would have been off. */
  wouldBeDownAtMs: number | null;
  hooks: Array<{
    name: string;
    status: string;
    durationMs: number;
    /** A guest preset: the guests it would have stopped. */
    guests?: Array<{ name: string; kind: string; state: string }>;
  }>;
  /** A real host was in dry-run or drill mode (it must be: false means it would have powered off). */
  dryRun: boolean | null;
  failures: string[];
}

export interface DrillStepReport {
  index: number | null;
  groups: string[];
  /** Step start -> step end (confirmations plus settle), as measured. */
  durationMs: number | null;
  endedBy: string | null;
  deadlineMs: number;
  settleMs: number;
}

export interface DrillReport {
  runId: string;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  steps: DrillStepReport[];
  hosts: DrillHostReport[];
  final: { durationMs: number | null; error: string | null };
  ok: boolean;
  failures: number;
}

function since(from: number | null, to: number | null): number | null {
  return from === null || to === null ? null : Math.max(0, to - from);
}

function hostFailures(m: MemberView): string[] {
  const out: string[] = [];
  if (m.offlineAtStep && m.ackAt === null) out.push('offline when its order was due');
  if (m.cutShortByDeadline)
    out.push(
      `deadline passed at ${m.reachedAtDeadline ?? 'unknown'}${m.cutShortWhy ? `: ${m.cutShortWhy}` : ''}`,
    );
  if ((m.hookFailures ?? 0) > 0) out.push(`${m.hookFailures} hook(s) failed`);
  for (const h of m.drillReport ?? [])
    if (h.status !== 'ok' && h.status !== 'skipped') out.push(`hook ${h.name}: ${h.status}`);
  if (m.kind === 'agent' && m.dryRun === false) out.push('reported a real power-off during a drill');
  if (m.state !== 'down' && m.state !== 'deadline') out.push(`ended ${m.state}`);
  return [...new Set(out)];
}

function hostReport(step: StepView, m: MemberView, runStart: number): DrillHostReport {
  return {
    id: m.id,
    kind: m.kind,
    group: m.group,
    step: step.index,
    ackLatencyMs: since(m.orderedAt, m.ackAt),
    shutdownMs: since(m.orderedAt, m.goingDownAt),
    wouldBeDownAtMs: since(runStart, m.goingDownAt),
    hooks: (m.drillReport ?? []).map((h) => ({
      name: h.name,
      status: h.status,
      durationMs: h.durationMs,
      ...(h.guests ? { guests: h.guests.map((g) => ({ name: g.name, kind: g.kind, state: g.state })) } : {}),
    })),
    dryRun: m.dryRun,
    failures: hostFailures(m),
  };
}

export function buildDrillReport(view: SequenceView): DrillReport | null {
  if (!view.drill || view.runId === null || view.startedAt === null) return null;
  const runStart = view.startedAt;
  const steps = [...view.early.filter((e) => e.drill && e.runId !== null), ...view.steps];
  const hosts = steps.flatMap((s) => s.members.map((m) => hostReport(s, m, runStart)));
  const finalError = view.final.error;
  const failures = hosts.reduce((n, h) => n + h.failures.length, 0) + (finalError ? 1 : 0);
  return {
    runId: view.runId,
    startedAt: runStart,
    endedAt: view.endedAt,
    durationMs: since(runStart, view.endedAt),
    steps: view.steps.map((s) => ({
      index: s.index,
      groups: s.groups,
      durationMs: since(s.startedAt, s.endedAt),
      endedBy: s.endedBy,
      deadlineMs: s.deadlineMs,
      settleMs: s.settleMs,
    })),
    hosts,
    final: { durationMs: since(view.final.startedAt, view.final.endedAt), error: finalError },
    ok: failures === 0 && view.state === 'done',
    failures,
  };
}

/** The report is complete once the run is done and every host that went down sent its hook durations. */
export function drillReportComplete(view: SequenceView): boolean {
  if (view.state !== 'done') return false;
  return view.steps.every((s) =>
    s.members.every((m) => m.kind === 'nut' || m.goingDownAt === null || m.drillReport !== null),
  );
}
