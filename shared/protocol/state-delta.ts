/**
 * State deltas (hello capability `state-delta`, docs/NETWORK.md): what the master computes between two
 * states it broadcasts, and what an agent rebuilds from them. Both are pure; the agent's picture after
 * applying the deltas to the first full state is the master's full state, field for field and in the same
 * key order (variables are kept sorted by name on both sides), so nothing that reads it can tell.
 *
 * Variables are handled through Maps and Object.fromEntries: a variable named `__proto__` or `constructor`
 * is a plain entry, never a prototype lookup or a prototype change.
 */
import { MAX_STATE_VARS, type PolicyViewT, type StateDeltaMsg, type StateMsg } from './messages.js';

/** One UPS's state as agents see it: the content of a `state` message. */
export interface StatePicture {
  ups: string;
  vars: Readonly<Record<string, string>>;
  stale: boolean;
  policy: PolicyViewT;
}

/** The changes a `state-delta` carries; an absent field did not change. */
export type DeltaBody = Pick<StateDeltaMsg, 'set' | 'unset' | 'stale' | 'policy'>;

/** The variables sorted by name: the one order both sides use. */
export function sortedVars(vars: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function samePolicy(a: PolicyViewT, b: PolicyViewT): boolean {
  return (
    a.critical === b.critical &&
    a.reason === b.reason &&
    a.onBatterySince === b.onBatterySince &&
    a.communicating === b.communicating
  );
}

export function samePicture(a: StatePicture, b: StatePicture): boolean {
  if (a.ups !== b.ups || a.stale !== b.stale || !samePolicy(a.policy, b.policy)) return false;
  const av = Object.entries(a.vars);
  const bv = new Map(Object.entries(b.vars));
  return av.length === bv.size && av.every(([k, v]) => bv.get(k) === v);
}

/** What turns `prev` into `next` (same UPS): set and removed variables, stale and policy when they changed. */
export function diffState(prev: StatePicture, next: StatePicture): DeltaBody {
  const before = new Map(Object.entries(prev.vars));
  const after = new Map(Object.entries(next.vars));
  const set: [string, string][] = [];
  for (const [k, v] of after) if (before.get(k) !== v) set.push([k, v]);
  const unset = [...before.keys()].filter((k) => !after.has(k)).sort();
  return {
    ...(set.length > 0 ? { set: sortedVars(Object.fromEntries(set)) } : {}),
    ...(unset.length > 0 ? { unset } : {}),
    ...(prev.stale !== next.stale ? { stale: next.stale } : {}),
    ...(samePolicy(prev.policy, next.policy) ? {} : { policy: { ...next.policy } }),
  };
}

/** `prev` with `delta` applied, or null when the result would exceed MAX_STATE_VARS (no master sends that). */
export function applyDelta(prev: StatePicture, delta: DeltaBody): StatePicture | null {
  const vars = new Map(Object.entries(prev.vars));
  for (const k of delta.unset ?? []) vars.delete(k);
  for (const [k, v] of Object.entries(delta.set ?? {})) vars.set(k, v);
  if (vars.size > MAX_STATE_VARS) return null;
  return {
    ups: prev.ups,
    vars: sortedVars(Object.fromEntries(vars)),
    stale: delta.stale ?? prev.stale,
    policy: delta.policy ? { ...delta.policy } : prev.policy,
  };
}

export type FollowResult =
  | { kind: 'state'; state: StateMsg }
  /** The delta does not apply to what we hold (`have`: our revision of that UPS, null: none): ask for a full state. */
  | { kind: 'gap'; ups: string; have: number | null; base: number; rev: number; why: string };

/**
 * An agent's side of one connection: the last full picture per UPS and its revision. A full `state`
 * replaces the picture (without `rev`, from a master that sends no deltas, it holds no revision); a delta
 * that applies to the revision held gives the next full state, as a `state` message, so everything after
 * the connection reads exactly what a full state would have given it. A delta that does not apply leaves
 * the picture as it was (the last good one) and reports a gap.
 */
export class StateFollower {
  private readonly pictures = new Map<string, { rev: number | null; state: StateMsg }>();

  /** A full state arrived: it is the picture of its UPS from now on. */
  onState(msg: StateMsg): void {
    this.pictures.set(msg.ups, { rev: msg.rev ?? null, state: msg });
  }

  onDelta(msg: StateDeltaMsg): FollowResult {
    const held = this.pictures.get(msg.ups);
    const have = held?.rev ?? null;
    const gap = (why: string): FollowResult => ({
      kind: 'gap',
      ups: msg.ups,
      have,
      base: msg.base,
      rev: msg.rev,
      why,
    });
    if (!held) return gap('no full state of this UPS yet');
    if (have === null) return gap('the full state held carries no revision');
    if (msg.base !== have) return gap(`delta on top of revision ${msg.base}, we hold ${have}`);
    const next = applyDelta(held.state, msg);
    if (!next) return gap(`more than ${MAX_STATE_VARS} variables`);
    const state: StateMsg = {
      v: msg.v,
      type: 'state',
      id: msg.id,
      ts: msg.ts,
      ups: next.ups,
      vars: next.vars as Record<string, string>,
      stale: next.stale,
      policy: next.policy,
      rev: msg.rev,
    };
    this.pictures.set(msg.ups, { rev: msg.rev, state });
    return { kind: 'state', state };
  }

  /** The revision held of a UPS (null: none, or a full state without one). */
  revision(ups: string): number | null {
    return this.pictures.get(ups)?.rev ?? null;
  }
}
