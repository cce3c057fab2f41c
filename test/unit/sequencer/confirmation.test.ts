/**
 * Confirmation is only what the member did (DESIGN "Confirmed down"): a close the master caused (missed
 * pings, an idle timer, a connection replaced by the agent's reconnect) never confirms a member down,
 * whatever it had reached; the deadline ends the wait as "cut short", and the final step waits for it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredRecord } from '../../../master/journal/journal-line.js';
import { emptyRecoveredState, reduceRecovered } from '../../../master/journal/recovery.js';
import type { TimelineEntry } from '../../../master/sequencer/sequence-view.js';
import { fleet, step } from './fleet-fixture.js';

/** What a master restarted now rebuilds from these timeline entries (as the journal records them). */
function fold(timeline: TimelineEntry[]) {
  let state = emptyRecoveredState();
  for (const e of timeline)
    state = reduceRecovered(state, { ...e, kind: 'sequence', event: e.kind } as unknown as StoredRecord);
  return state;
}

describe('confirmation: only what the member did', () => {
  it('an agent gone down-bound whose connection the master terminates (missed pings) is cut short at the deadline, not down', async () => {
    const f = fleet({ steps: [step(1, ['app'], 60_000)] });
    f.connect('a', 'app');
    f.sequencer.start('x');
    const { orderId } = f.orderOf('a');
    f.sequencer.onAck('a', orderId);
    f.sequencer.onGoingDown('a', orderId, false);
    f.clock.advance(20_000);
    f.disconnect('a', { closedByMaster: 'missed pings' });
    assert.equal(f.member('a').state, 'going-down');
    assert.equal(f.sequencer.view().steps[0]!.state, 'running');
    const closed = f.timeline.find((e) => e.kind === 'disconnected' && e.memberId === 'a');
    assert.match(String(closed?.detail), /closed by the master: missed pings/);
    assert.equal(f.finals.length, 0);
    f.clock.advance(40_000);
    await f.flush();
    assert.equal(f.sequencer.view().steps[0]!.endedBy, 'deadline');
    assert.equal(f.member('a').state, 'deadline');
    assert.equal(f.member('a').reachedAtDeadline, 'going-down');
    assert.ok(!f.timeline.some((e) => e.kind === 'down'), 'a down entry for a close the master made');
    assert.equal(f.finals[0]?.at, 60_000, 'the final step (killpower) did not wait for the deadline');
  });

  it("an agent's old connection replaced by its reconnect does not confirm it; its own close afterwards does", () => {
    const f = fleet({ steps: [step(1, ['app'], 60_000)] });
    f.connect('a', 'app');
    f.sequencer.start('x');
    const { orderId } = f.orderOf('a');
    f.sequencer.onAck('a', orderId);
    f.sequencer.onGoingDown('a', orderId, false);
    // the agent reconnects while going down: the master closes the old connection itself
    f.disconnect('a', { closedByMaster: 'replaced by a newer connection' });
    f.connect('a', 'app');
    assert.equal(f.member('a').state, 'going-down');
    f.disconnect('a');
    assert.equal(f.member('a').state, 'down');
    assert.equal(f.sequencer.view().steps[0]!.endedBy, 'confirmed');
  });

  it('a NUT member ordered and then dropped by the master (idle) is not down; nor is one the master drops after a primary FSD', () => {
    const f = fleet({ steps: [step(1, ['nas'], 60_000), step(2, ['@secondaries'], 30_000)] });
    f.connect('nut:nas', 'nas', 'nut');
    f.connect('nut:mon@10.0.0.9:4000', '@secondaries', 'nut');
    // the master drops the secondary before its step (idle) while the FSD latch is on: not "left after FSD"
    f.disconnect('nut:mon@10.0.0.9:4000', { closedByMaster: 'idle', leftAfterFsdAt: f.clock.now() });
    f.sequencer.start('x');
    f.disconnect('nut:nas', { closedByMaster: 'idle' });
    assert.equal(f.member('nut:nas').state, 'ordered');
    f.clock.advance(60_000);
    assert.equal(f.member('nut:nas').state, 'deadline');
    assert.equal(f.member('nut:mon@10.0.0.9:4000').state, 'offline');
    assert.ok(!f.timeline.some((e) => e.kind === 'down'));
  });

  it('a declared NUT member makes its step wait for it as offline (the step is not empty)', () => {
    const f = fleet({ steps: [step(1, ['nas'], 60_000)] });
    f.registry.declare('nut:nas', 'nut', 'nas');
    f.sequencer.start('x');
    assert.equal(f.sequencer.view().steps[0]!.state, 'running');
    assert.equal(f.member('nut:nas').state, 'offline');
    f.connect('nut:nas', 'nas', 'nut');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['nut:nas'],
    );
    f.disconnect('nut:nas');
    assert.equal(f.sequencer.view().steps[0]!.endedBy, 'confirmed');
    // known in advance, it stays a member after it left
    assert.equal(f.registry.get('nut:nas')?.connected, false);
  });

  it('a NUT session of a group whose step already ended is shown its order at once (late-order), never waited for; agents are not', () => {
    const f = fleet({ steps: [step(1, ['nas', 'app'], 60_000), step(2, ['db'], 60_000)] });
    f.connect('d', 'db');
    f.sequencer.start('x');
    assert.equal(f.sequencer.view().steps[0]!.endedBy, 'empty');
    f.connect('nut:nas@10.0.0.7:4000', 'nas', 'nut');
    f.connect('a', 'app');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['d', 'nut:nas@10.0.0.7:4000'],
    );
    const late = f.timeline.find((e) => e.kind === 'late-order');
    assert.equal(late?.memberId, 'nut:nas@10.0.0.7:4000');
    assert.equal(late?.step, 1);
    // the master's own close is not its going down; its own close is (late-down)
    f.disconnect('nut:nas@10.0.0.7:4000', { closedByMaster: 'idle' });
    assert.ok(!f.timeline.some((e) => e.kind === 'late-down'));
    f.connect('nut:nas@10.0.0.7:4000', 'nas', 'nut');
    f.disconnect('nut:nas@10.0.0.7:4000');
    assert.equal(f.timeline.filter((e) => e.kind === 'late-down').length, 1);
    assert.equal(f.sequencer.view().steps[1]!.state, 'running', 'step 2 is unaffected');
  });

  it('a drill never shows a late NUT session FSD', () => {
    const f = fleet({ steps: [step(1, ['nas'], 60_000), step(2, ['db'], 60_000)] });
    f.connect('d', 'db');
    f.sequencer.start('drill', { drill: true });
    f.connect('nut:nas@10.0.0.7:4000', 'nas', 'nut');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['d'],
    );
    assert.ok(!f.timeline.some((e) => e.kind === 'late-order'));
  });

  it('a restarted master still waits for a declared NUT member recorded offline, and shows it the same order when it logs in', () => {
    const steps = [step(1, ['nas'], 60_000)];
    const before = fleet({ steps });
    before.registry.declare('nut:nas', 'nut', 'nas');
    before.sequencer.start('x');
    before.clock.advance(10_000);
    const orderId = before.member('nut:nas').orderId;
    const after = fleet({ steps });
    after.clock.advance(before.clock.now() - after.clock.now() + 5_000);
    after.registry.declare('nut:nas', 'nut', 'nas');
    after.sequencer.resume(fold(before.timeline));
    assert.equal(after.member('nut:nas').state, 'offline');
    after.connect('nut:nas', 'nas', 'nut');
    assert.equal(after.orderOf('nut:nas').orderId, orderId);
    after.disconnect('nut:nas');
    assert.equal(after.sequencer.view().steps[0]!.endedBy, 'confirmed');
  });

  it('a restarted master shows FSD to a declared NUT member its step had cut short, and recovers late-order / late-down', () => {
    const steps = [step(1, ['nas'], 60_000), step(2, ['db'], 60_000)];
    const before = fleet({ steps });
    before.registry.declare('nut:nas', 'nut', 'nas');
    before.connect('d', 'db');
    before.sequencer.start('x');
    before.clock.advance(60_000);
    assert.equal(before.member('nut:nas').state, 'deadline');
    const after = fleet({ steps });
    after.clock.advance(before.clock.now() - after.clock.now() + 1_000);
    after.registry.declare('nut:nas', 'nut', 'nas');
    after.sequencer.resume(fold(before.timeline));
    after.connect('nut:nas', 'nas', 'nut');
    assert.equal(after.orderOf('nut:nas').orderId, before.member('nut:nas').orderId);
    after.clock.advance(2_000);
    after.disconnect('nut:nas');
    assert.deepEqual(
      after.timeline.filter((e) => e.memberId === 'nut:nas').map((e) => e.kind),
      ['late-order', 'late-down'],
    );
    const rec = fold([...before.timeline, ...after.timeline]).run?.stages[0]?.members['nut:nas'];
    assert.equal(rec?.state, 'deadline');
    assert.equal(rec?.reachedAtDeadline, 'offline');
    assert.equal(rec?.orderedAt, after.clock.now() - 2_000);
    assert.equal(rec?.downAt, after.clock.now());
  });
});
