/**
 * What the journal knows about waking early groups, folded record by record like the rest of the
 * recovered state (master/journal/recovery.ts calls `reduceWake`). The live waker reads the same fold
 * (`journal.state.wake`), so the running master and a restarted one decide from the same memory: a wake
 * that was sent is never sent again, a pending one keeps its due time, and one that power failing again
 * or the fleet sequence cancelled stays cancelled.
 *
 * Records: `wake-pending` (mains back after the group left: due at), `wake` (the decision, journaled before
 * anything is sent: which hosts, by which means), `wake-result` (per host and means), `wake-back` (a woken
 * host connected again). Two more transitions come from records that exist anyway: a `status` on battery
 * cancels a pending wake, and a real `sequence-start` marks every early group's wake as skipped (killpower's
 * power cycle brings those hosts back).
 */
import { parseStatus } from '../../shared/nut/status.js';
import type { StoredRecord } from '../journal/journal-line.js';

export type WakeVia = 'wol' | 'command';

/** pending: waiting for mains to have been back long enough (and the charge); sent: decided and sent. */
export type WakePhase = 'pending' | 'cancelled' | 'sent' | 'skipped';

export interface WakeResult {
  ok: boolean;
  detail: string;
  at: number;
}

export interface WakeHost {
  id: string;
  mac: string | null;
  /** The last address its agent connected from. */
  address: string | null;
  /** How it is woken; empty when it is not (see `skipped`). */
  via: WakeVia[];
  /** Why it was not woken (already connected again, nothing known to wake it with). */
  skipped: string | null;
  results: Partial<Record<WakeVia, WakeResult>>;
  /** When it connected again after the wake. */
  backAt: number | null;
}

export interface GroupWake {
  group: string;
  /** The early run whose hosts left. */
  runId: string;
  phase: WakePhase;
  /** When mains came back (pending). */
  onlineSince: number | null;
  /** When the wake is due (pending). */
  dueAt: number | null;
  /** Why it was cancelled or skipped. */
  reason: string | null;
  /** When the wake was decided (sent). */
  decidedAt: number | null;
  hosts: WakeHost[];
}

/** Group -> the last wake decided or pending for it. */
export type WakeState = Record<string, GroupWake>;

export const WAKE_RECORD_KINDS = ['wake-pending', 'wake', 'wake-result', 'wake-back'] as const;

export const POWER_FAILED_AGAIN = 'power failed again before the wake';
export const FLEET_SEQUENCE_STARTED =
  "the fleet sequence started: killpower's power cycle brings every host back";

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function hostsOf(v: unknown): WakeHost[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter(
      (h): h is Record<string, unknown> => typeof h === 'object' && h !== null && typeof h.id === 'string',
    )
    .map((h) => ({
      id: h.id as string,
      mac: str(h.mac),
      address: str(h.address),
      via: Array.isArray(h.via) ? (h.via.filter((x) => x === 'wol' || x === 'command') as WakeVia[]) : [],
      skipped: str(h.skipped),
      results: {},
      backAt: null,
    }));
}

/** The wake of `group` for run `runId` as folded so far, if that is the run it is about. */
function current(wake: WakeState, r: StoredRecord): GroupWake | null {
  const group = str(r.group);
  const w = group ? wake[group] : undefined;
  return w && w.runId === str(r.runId) ? w : null;
}

/** What the rest of the recovered state says when a record is folded (before that record). */
export interface WakeFoldContext {
  /** The early groups' runs the journal knows. */
  earlyRuns: ReadonlyArray<{ group: string; runId: string; drill: boolean }>;
  /** A real fleet run is under way (its killpower will power-cycle every host). */
  realRun: boolean;
}

function skipped(group: string, runId: string): GroupWake {
  return {
    group,
    runId,
    phase: 'skipped',
    onlineSince: null,
    dueAt: null,
    reason: FLEET_SEQUENCE_STARTED,
    decidedAt: null,
    hosts: [],
  };
}

/** Folds one record into the wake state. Mutates and returns `wake`. */
export function reduceWake(wake: WakeState, r: StoredRecord, ctx: WakeFoldContext): WakeState {
  const ts = num(r.ts) ?? 0;
  switch (r.kind) {
    case 'wake-pending': {
      const group = str(r.group);
      const runId = str(r.runId);
      if (!group || !runId) return wake;
      wake[group] = {
        group,
        runId,
        phase: 'pending',
        onlineSince: num(r.onlineSince),
        dueAt: num(r.dueAt),
        reason: null,
        decidedAt: null,
        hosts: [],
      };
      return wake;
    }
    case 'wake': {
      const group = str(r.group);
      const runId = str(r.runId);
      if (!group || !runId) return wake;
      const before = wake[group]?.runId === runId ? wake[group] : undefined;
      wake[group] = {
        group,
        runId,
        phase: 'sent',
        onlineSince: before?.onlineSince ?? null,
        dueAt: before?.dueAt ?? null,
        reason: null,
        decidedAt: ts,
        hosts: hostsOf(r.hosts),
      };
      return wake;
    }
    case 'wake-result': {
      const w = current(wake, r);
      const host = w?.hosts.find((h) => h.id === r.memberId);
      const via = str(r.via);
      if (host && (via === 'wol' || via === 'command'))
        host.results[via] = { ok: r.ok === true, detail: str(r.detail) ?? '', at: ts };
      return wake;
    }
    case 'wake-back': {
      const host = current(wake, r)?.hosts.find((h) => h.id === r.memberId);
      if (host) host.backAt ??= ts;
      return wake;
    }
    case 'status': {
      if (!parseStatus(str(r.status) ?? '').has('OB')) return wake;
      for (const w of Object.values(wake)) {
        if (w.phase !== 'pending') continue;
        w.phase = 'cancelled';
        w.reason = POWER_FAILED_AGAIN;
      }
      return wake;
    }
    case 'sequence': {
      if (r.drill === true) return wake;
      const group = str(r.early);
      const runId = str(r.runId);
      // an early group ordered down while (or because) the fleet sequence runs: the power cycle wakes it
      if (r.event === 'early-start' && ctx.realRun && group && runId) wake[group] = skipped(group, runId);
      if (r.event !== 'sequence-start') return wake;
      for (const e of ctx.earlyRuns) {
        const w = wake[e.group];
        if (e.drill || (w?.runId === e.runId && w.phase === 'sent')) continue;
        wake[e.group] = skipped(e.group, e.runId);
      }
      return wake;
    }
    default:
      return wake;
  }
}
