/**
 * What the sequencer shows: the JSON-serialisable progress served by GET /status and the timeline
 * entries the journal, the demo and the integration tests read. Types only.
 */
import type { MemberKind } from '../fleet/registry.js';
import type { PlannedStage } from '../journal/recovery.js';

export type MemberState =
  | 'pending'
  | 'ordered'
  | 'acked'
  | 'going-down'
  | 'down'
  | 'offline'
  | 'deadline'
  /** Fed by other UPSes it declared (its supplies): not ordered, not waited for, not down. */
  | 'redundantly-fed';

export interface HookProgressView {
  hook: number;
  of: number;
  name: string;
  status: 'started' | 'ok' | 'failed' | 'skipped';
  durationMs: number | null;
  at: number;
  /** A guest preset: each guest's latest news (stopping, stopped, forced, failed...). */
  guests?: GuestProgressView[];
}

/** One guest of a guest preset, as its agent last reported it. */
export interface GuestProgressView {
  name: string;
  kind: string;
  state: string;
  durationMs: number | null;
  error?: string;
  at: number;
}

export interface DrillHookView {
  name: string;
  status: string;
  durationMs: number;
  /** A guest preset: what it would have stopped. */
  guests?: Array<{ name: string; kind: string; state: string }>;
}

export interface MemberView {
  id: string;
  kind: MemberKind;
  group: string;
  state: MemberState;
  orderId: string;
  orderedAt: number | null;
  ackAt: number | null;
  goingDownAt: number | null;
  downAt: number | null;
  /** When its connection closed before it confirmed (it is then still waited for). */
  disconnectedAt: number | null;
  /** From its going-down: true when it only pretended to power off. */
  dryRun: boolean | null;
  hookFailures: number | null;
  cutShortByDeadline: boolean;
  /** What it had reached when the deadline cut it short. */
  reachedAtDeadline: Exclude<MemberState, 'down' | 'deadline' | 'redundantly-fed'> | null;
  /** Why it was not confirmed by then, as its transport saw it (an SSH target's failed command); null: not said. */
  cutShortWhy: string | null;
  /** It was not connected when its order was due (it may have connected later). */
  offlineAtStep: boolean;
  /** Already confirmed down by its early group: not ordered again. */
  downEarly: boolean;
  /**
   * When it was found redundantly fed (its other supplies alone keep it at its minSupplies): not ordered
   * then. Stays set if it was ordered later, when it reported its other supplies lost.
   */
  redundantAt: number | null;
  hooks: HookProgressView[];
  drillReport: DrillHookView[] | null;
}

export type StageState = 'waiting' | 'running' | 'settling' | 'done';
export type StageEnd = 'confirmed' | 'deadline' | 'empty';

export interface StepView {
  /** 1-based step of the fleet sequence; null for an early group. */
  index: number | null;
  groups: string[];
  state: StageState;
  deadlineMs: number;
  settleMs: number;
  startedAt: number | null;
  /** Epoch ms at which the step stops waiting. */
  deadline: number | null;
  endedAt: number | null;
  endedBy: StageEnd | null;
  members: MemberView[];
}

export interface EarlyGroupView extends StepView {
  group: string;
  runId: string | null;
  reason: string | null;
  drill: boolean;
}

export interface FinalStepView {
  startedAt: number | null;
  endedAt: number | null;
  error: string | null;
}

export type SequenceState = 'idle' | 'running' | 'final' | 'done';

export interface SequenceView {
  state: SequenceState;
  runId: string | null;
  reason: string | null;
  drill: boolean;
  startedAt: number | null;
  endedAt: number | null;
  steps: StepView[];
  early: EarlyGroupView[];
  final: FinalStepView;
  /** Acks, going-downs, progress with a wrong order id or from a member not being waited for. */
  ignoredMessages: number;
}

export type TimelineKind =
  | 'sequence-start'
  | 'step-start'
  | 'early-start'
  | 'order'
  | 'offline'
  | 'resend'
  | 'ack'
  | 'progress'
  | 'going-down'
  | 'disconnected'
  | 'down'
  | 'deadline'
  /** An agent fed by other UPSes too, which alone keep it at its minSupplies: not ordered, not waited for. */
  | 'redundantly-fed'
  /** A NUT client shown its order (FSD) after its stage stopped waiting for it (logged in late). */
  | 'late-order'
  /** That late-ordered NUT client's own logout or close: it went down, after its stage. */
  | 'late-down'
  | 'step-end'
  | 'early-end'
  | 'final-wait'
  | 'final-start'
  | 'final-end'
  | 'done'
  | 'abandoned';

export interface TimelineEntry {
  ts: number;
  kind: TimelineKind;
  runId: string;
  drill: boolean;
  /** The fleet step; absent for early groups and run-wide entries. */
  step?: number;
  /** The early group, for early-group entries. */
  early?: string;
  memberId?: string;
  orderId?: string;
  endedBy?: StageEnd;
  detail?: string;
  /** deadline: why the member was not confirmed, as its transport saw it (an SSH target's failed command). */
  why?: string;
  /** step-start/early-start: epoch ms at which the stage stops waiting. */
  deadline?: number;
  /** order/offline/late-order: who the member is, so that a restarted master knows it without its connection. */
  memberKind?: MemberKind;
  group?: string;
  /** down: confirmed by its early group earlier, not ordered again. */
  downEarly?: boolean;
  /**
   * down: when the member went down, when that was before this record (down with its early group, a NUT
   * client that left after seeing FSD). The record's own ts stays when it was written: records keep their
   * order in time; a restarted master shows this instant, as the live one did.
   */
  downAt?: number;
  /** sequence-start: every step as planned (a config edited mid-outage does not change a run under way); early-start: the stage. */
  plan?: PlannedStage[] | PlannedStage;
}

export interface SequencerListener {
  timeline?(entry: TimelineEntry): void;
}
