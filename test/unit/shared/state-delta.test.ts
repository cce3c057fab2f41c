/**
 * State deltas (shared/protocol/state-delta.ts, master/servers/state-stream.ts): for random sequences of
 * variable changes, additions, removals, stale and policy flips, the master's deltas, encoded and validated
 * as they travel, applied by an agent's follower to the first full state give every later full state
 * exactly (same JSON text: same values and key order); a delta that does not follow what the follower holds
 * is reported as a gap and leaves the picture as it was; the schema bounds a delta like a state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StateStream } from '../../../master/servers/state-stream.js';
import { decodeMasterMessage, encode, envelop } from '../../../shared/protocol/codec.js';
import {
  MAX_STATE_VARS,
  type MasterMsg,
  type PolicyViewT,
  type StateDeltaMsg,
  type StateMsg,
} from '../../../shared/protocol/messages.js';
import {
  applyDelta,
  diffState,
  StateFollower,
  type StatePicture,
  sortedVars,
} from '../../../shared/protocol/state-delta.js';

/** A few NUT names plus ones that would trip a careless object lookup. */
const NAMES = [
  'ups.status',
  'battery.charge',
  'battery.runtime',
  'input.voltage',
  'ups.load',
  'ups.alarm',
  'device.model',
  'battery.charge.low',
  '__proto__',
  'constructor',
  'toString',
  'x.é',
];

const policyArb: fc.Arbitrary<PolicyViewT> = fc.record({
  critical: fc.boolean(),
  reason: fc.option(fc.constantFrom('OB LB', 'FSD', 'charge below 20'), { nil: null }),
  onBatterySince: fc.option(fc.integer({ min: 0, max: 2e12 }), { nil: null }),
  communicating: fc.boolean(),
});

type Change =
  | { kind: 'set'; name: string; value: string }
  | { kind: 'unset'; name: string }
  | { kind: 'stale'; stale: boolean }
  | { kind: 'policy'; policy: PolicyViewT }
  | { kind: 'none' };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      name: fc.constantFrom(...NAMES),
      value: fc.string({ maxLength: 12 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('unset' as const), name: fc.constantFrom(...NAMES) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), stale: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('policy' as const), policy: policyArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

/** A source's variables in its own (unsorted) order, as the hub holds them. */
function applyChanges(p: StatePicture, changes: Change[]): StatePicture {
  const vars = new Map(Object.entries(p.vars));
  let { stale, policy } = p;
  for (const c of changes) {
    if (c.kind === 'set') vars.set(c.name, c.value);
    else if (c.kind === 'unset') vars.delete(c.name);
    else if (c.kind === 'stale') stale = c.stale;
    else if (c.kind === 'policy') policy = c.policy;
  }
  return { ups: p.ups, vars: Object.fromEntries(vars), stale, policy };
}

/** What the master sends: variables sorted (agent-server pictureOf). */
const canonical = (p: StatePicture): StatePicture => ({ ...p, vars: sortedVars(p.vars) });

function fullMessage(p: StatePicture, rev?: number): StateMsg {
  return envelop<StateMsg>({
    type: 'state',
    ups: p.ups,
    vars: p.vars as Record<string, string>,
    stale: p.stale,
    policy: p.policy,
    ...(rev === undefined ? {} : { rev }),
  });
}

/** Through the wire: encoded, then decoded and validated as the agent does. */
function travel<T extends MasterMsg>(msg: T): T {
  const d = decodeMasterMessage(encode(msg));
  assert.ok(d.ok, d.ok ? '' : d.reason);
  return d.msg as T;
}

const contentOf = (s: StateMsg) =>
  JSON.stringify({ ups: s.ups, vars: s.vars, stale: s.stale, policy: s.policy });

const start: StatePicture = {
  ups: 'su700',
  vars: { 'ups.status': 'OL', 'battery.charge': '100', 'device.model': 'SU700' },
  stale: false,
  policy: { critical: false, reason: null, onBatterySince: null, communicating: true },
};

describe('state deltas', () => {
  it('applied to the first full state, give every later full state exactly (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(changeArb, { maxLength: 6 }), { minLength: 1, maxLength: 40 }),
        (rounds) => {
          const stream = new StateStream();
          const follower = new StateFollower();
          let source = start;
          const rev0 = stream.revisionOf(canonical(source));
          assert.equal(rev0, 0);
          follower.onState(travel(fullMessage(canonical(source), 0)));
          for (const changes of rounds) {
            source = applyChanges(source, changes);
            const next = canonical(source);
            const step = stream.advance(next);
            assert.ok(step.delta, 'same UPS: always a delta');
            assert.equal(step.base, step.rev - 1);
            const delta = travel(
              envelop<StateDeltaMsg>({
                type: 'state-delta',
                ups: next.ups,
                rev: step.rev,
                base: step.base,
                ...step.delta,
              }),
            );
            const got = follower.onDelta(delta);
            assert.equal(got.kind, 'state');
            if (got.kind !== 'state') return;
            // what a full-state agent gets, through the wire: the same text, key order included
            assert.equal(contentOf(got.state), contentOf(travel(fullMessage(next))));
            assert.equal(got.state.rev, step.rev);
            assert.equal(follower.revision(next.ups), step.rev);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('carries only what changed: one variable, its removal, stale and policy only when they changed', () => {
    const next = { ...start, vars: { ...start.vars, 'battery.charge': '99' } };
    assert.deepEqual(diffState(start, next), { set: { 'battery.charge': '99' } });
    const removed = { ...start, vars: { 'ups.status': 'OL', 'battery.charge': '100' } };
    assert.deepEqual(diffState(start, removed), { unset: ['device.model'] });
    assert.deepEqual(diffState(start, { ...start, stale: true }), { stale: true });
    const policy = { ...start.policy, critical: true, reason: 'OB LB' };
    assert.deepEqual(diffState(start, { ...start, policy }), { policy });
    assert.deepEqual(diffState(start, { ...start, vars: { ...start.vars } }), {});
    // a variable named like an Object.prototype member is a plain variable
    const proto = applyDelta(start, { set: JSON.parse('{"__proto__":"x","constructor":"y"}') });
    assert.ok(proto);
    assert.equal(Object.getPrototypeOf(proto.vars), Object.prototype);
    assert.deepEqual(
      Object.keys(proto.vars).sort(),
      [...Object.keys(start.vars), '__proto__', 'constructor'].sort(),
    );
    assert.deepEqual(diffState(start, proto), {
      set: sortedVars(JSON.parse('{"__proto__":"x","constructor":"y"}')),
    });
  });

  it('reports a gap for a delta that does not follow the revision held, and keeps the last good picture', () => {
    const follower = new StateFollower();
    const delta = (base: number, rev: number, set: Record<string, string>) =>
      envelop<StateDeltaMsg>({ type: 'state-delta', ups: 'su700', rev, base, set });
    // before any full state
    assert.deepEqual(
      (({ kind, have }) => ({ kind, have }))(
        follower.onDelta(delta(0, 1, { a: '1' })) as { kind: string; have: null },
      ),
      { kind: 'gap', have: null },
    );
    follower.onState(fullMessage(canonical(start), 5));
    const ok = follower.onDelta(delta(5, 6, { 'battery.charge': '90' }));
    assert.equal(ok.kind, 'state');
    // revision 7 never came
    const gap = follower.onDelta(delta(7, 8, { 'battery.charge': '70' }));
    assert.equal(gap.kind, 'gap');
    assert.equal(gap.kind === 'gap' && gap.have, 6);
    assert.equal(follower.revision('su700'), 6);
    // later deltas on top of the lost line do not apply either
    assert.equal(follower.onDelta(delta(8, 9, { 'battery.charge': '60' })).kind, 'gap');
    // a full state (the resync's answer) starts a good line again
    follower.onState(
      fullMessage({ ...canonical(start), vars: sortedVars({ ...start.vars, 'battery.charge': '60' }) }, 9),
    );
    const after = follower.onDelta(delta(9, 10, { 'battery.charge': '55' }));
    assert.equal(after.kind, 'state');
    assert.equal(after.kind === 'state' && after.state.vars['battery.charge'], '55');
    // a full state without a revision (a master that sends no deltas): no delta applies to it
    follower.onState(fullMessage(canonical(start)));
    assert.equal(follower.onDelta(delta(10, 11, { a: '1' })).kind, 'gap');
    // another UPS's picture is its own
    assert.equal(
      follower.onDelta(envelop<StateDeltaMsg>({ type: 'state-delta', ups: 'other', rev: 11, base: 10 })).kind,
      'gap',
    );
  });

  it('a new UPS name or the first picture gives no delta (a full state goes out)', () => {
    const stream = new StateStream();
    assert.equal(stream.advance(start).delta, null);
    assert.deepEqual(stream.advance({ ...start, stale: true }).delta, { stale: true });
    assert.equal(stream.advance({ ...start, ups: 'other' }).delta, null);
    // a connect whose snapshot moved on since the last broadcast holds no revision
    assert.equal(stream.revisionOf({ ...start, ups: 'other', stale: true }), null);
    assert.equal(stream.revisionOf({ ...start, ups: 'other' }), 3);
  });

  it('bounds a delta like a state: at most MAX_STATE_VARS set and unset', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_STATE_VARS + 1 }, (_, i) => [`v.${i}`, '1']));
    const base = { type: 'state-delta' as const, ups: 'su700', rev: 2, base: 1 };
    const tooMany = decodeMasterMessage(encode(envelop<StateDeltaMsg>({ ...base, set: many })));
    assert.equal(tooMany.ok, false);
    assert.equal(!tooMany.ok && tooMany.code, 'PROTO_INVALID');
    const tooManyGone = decodeMasterMessage(
      encode(envelop<StateDeltaMsg>({ ...base, unset: Object.keys(many) })),
    );
    assert.equal(!tooManyGone.ok && tooManyGone.code, 'PROTO_INVALID');
    const fullTooMany = decodeMasterMessage(encode(fullMessage({ ...start, vars: many })));
    assert.equal(!fullTooMany.ok && fullTooMany.code, 'PROTO_INVALID');
    const unknownField = decodeMasterMessage(JSON.stringify({ ...envelop<StateDeltaMsg>(base), extra: 1 }));
    assert.equal(!unknownField.ok && unknownField.code, 'PROTO_INVALID');
    // a picture grown past the bound by deltas is refused (a gap) rather than kept
    const follower = new StateFollower();
    const half = Object.fromEntries(Array.from({ length: MAX_STATE_VARS }, (_, i) => [`a.${i}`, '1']));
    follower.onState(fullMessage({ ...start, vars: half }, 1));
    assert.equal(follower.onDelta(envelop<StateDeltaMsg>({ ...base, set: { 'b.0': '1' } })).kind, 'gap');
  });
});
