/**
 * What confirms a NUT client down, at the session level: the real NUT server and a real Sequencer on one
 * registry and one ManualClock, with raw protocol clients on 127.0.0.1.
 * - a client silent after its FSD is never dropped by the idle timer, and its step ends cut short at
 *   the deadline, not confirmed;
 * - a user with a group that is not logged in when its step comes is waited for as offline; logging in
 *   during the step it sees FSD (and LB) at once, and its LOGOUT confirms it;
 * - logging in after its step's deadline it still sees FSD at once, journaled as late-order / late-down.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoredRecord } from '../../../master/journal/journal-line.js';
import { emptyRecoveredState, reduceRecovered } from '../../../master/journal/recovery.js';
import type { TimelineEntry } from '../../../master/sequencer/sequence-view.js';
import { Sequencer } from '../../../master/sequencer/sequencer.js';
import { silentLogger } from '../../../shared/logger.js';
import { type Harness, startHarness, tick, until } from './helpers.js';

const DEADLINE_MS = 60_000;

async function withSequencer(h: Harness) {
  const finals: number[] = [];
  const sequencer = new Sequencer({
    clock: h.clock,
    logger: silentLogger(),
    masterId: 'm',
    steps: [{ index: 1, groups: ['nas'], deadlineMs: DEADLINE_MS, settleMs: 0 }],
    earlyGroups: [],
    registry: h.registry,
    finalStep: async () => {
      finals.push(h.clock.now());
    },
  });
  const timeline: TimelineEntry[] = [];
  sequencer.subscribe({ timeline: (e) => timeline.push(e) });
  const about = (id: string) => timeline.filter((e) => e.memberId === id).map((e) => e.kind);
  const nas = () => sequencer.view().steps[0]!.members.find((m) => m.id === 'nut:nas');
  /** The journal's fold of what was recorded (but the run's end): a master restarted now knows the same. */
  const recovered = () => {
    let state = emptyRecoveredState();
    for (const e of timeline.filter((x) => x.kind !== 'done'))
      state = reduceRecovered(state, { ...e, kind: 'sequence', event: e.kind } as unknown as StoredRecord);
    return state;
  };
  return { sequencer, timeline, finals, about, nas, recovered };
}

test('a NUT client silent after its FSD is not dropped by the idle timer: its step ends cut short at the deadline, never confirmed', async (t) => {
  const h = await startHarness({ config: { idleTimeout: '30s' } });
  t.after(() => h.close());
  const s = await withSequencer(h);
  t.after(() => s.sequencer.stop());
  h.hub.publishVars({ 'ups.status': 'OB DISCHRG LB' });
  const client = await h.client();
  await client.login('nas', 'naspass');
  s.sequencer.start('critical');
  const t0 = h.clock.now();
  assert.equal(await client.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OB DISCHRG LB"');
  // then it freezes (a dead switch): not a byte for longer than the idle timeout, several times over
  for (let i = 0; i < 5; i++) {
    h.clock.advance(10_000);
    await tick();
  }
  assert.equal(client.closed, false, 'the master dropped a client it is waiting for');
  assert.equal(s.nas()?.state, 'ordered', 'no confirmation yet');
  assert.equal(s.sequencer.view().steps[0]!.state, 'running');
  assert.equal(s.finals.length, 0);
  h.clock.advance(DEADLINE_MS - 50_000);
  await tick();
  const stepView = s.sequencer.view().steps[0]!;
  assert.equal(stepView.endedBy, 'deadline');
  assert.equal(s.nas()?.state, 'deadline');
  assert.equal(s.nas()?.reachedAtDeadline, 'ordered');
  assert.deepEqual(s.about('nut:nas'), ['order', 'deadline']);
  await until(() => s.finals.length === 1, 'the final step');
  assert.equal(s.finals[0]! - t0, DEADLINE_MS, 'the final step (killpower) came before the deadline');
  // the client wakes up and logs out on its own: it went down after the deadline (late-down), still cut short
  h.clock.advance(1_000);
  assert.equal(await client.cmd('LOGOUT'), 'OK Goodbye');
  await client.closedPromise;
  await until(() => s.about('nut:nas').includes('late-down'), 'the late-down entry');
  assert.deepEqual(s.about('nut:nas'), ['order', 'deadline', 'late-down']);
  assert.equal(s.nas()?.state, 'deadline');
  assert.equal(s.nas()?.downAt, t0 + DEADLINE_MS + 1_000);
  assert.equal(s.recovered().run?.stages[0]?.members['nut:nas']?.state, 'deadline');
});

test('a grouped NUT client away at its step is waited for as offline; logging in, it sees FSD and LB at once and its LOGOUT confirms it', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const s = await withSequencer(h);
  t.after(() => s.sequencer.stop());
  h.hub.publishVars({ 'ups.status': 'OB DISCHRG LB' });
  s.sequencer.start('critical');
  const stepView = () => s.sequencer.view().steps[0]!;
  assert.equal(stepView().state, 'running', 'the step ended at once as if the group were empty');
  assert.equal(s.nas()?.state, 'offline');
  assert.equal(s.nas()?.kind, 'nut');
  const offline = s.timeline.find((e) => e.kind === 'offline');
  assert.equal(offline?.memberId, 'nut:nas');
  assert.equal(offline?.memberKind, 'nut');
  assert.equal(offline?.group, 'nas');
  assert.equal(s.recovered().run?.stages[0]?.members['nut:nas']?.state, 'offline');

  h.clock.advance(20_000);
  const client = await h.client();
  await client.login('nas', 'naspass');
  // first poll after LOGIN: FSD, and LB no longer held back
  assert.equal(await client.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OB DISCHRG LB"');
  assert.equal(s.nas()?.state, 'ordered');
  assert.equal(await client.cmd('LOGOUT'), 'OK Goodbye');
  await client.closedPromise;
  await until(() => stepView().state === 'done', 'the step to end');
  assert.equal(stepView().endedBy, 'confirmed');
  assert.deepEqual(s.about('nut:nas'), ['offline', 'resend', 'down']);
  assert.equal(s.recovered().run?.stages[0]?.members['nut:nas']?.state, 'down');
});

test('a grouped NUT client back after its deadline still sees FSD at once; journaled as late-order and late-down', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const s = await withSequencer(h);
  t.after(() => s.sequencer.stop());
  h.hub.publishVars({ 'ups.status': 'OB DISCHRG LB' });
  s.sequencer.start('critical');
  h.clock.advance(DEADLINE_MS);
  await tick();
  assert.equal(s.sequencer.view().steps[0]!.endedBy, 'deadline');
  assert.equal(s.nas()?.reachedAtDeadline, 'offline');

  h.clock.advance(30_000);
  const lateAt = h.clock.now();
  const client = await h.client();
  await client.login('nas', 'naspass');
  assert.equal(await client.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OB DISCHRG LB"');
  h.clock.advance(5_000);
  assert.equal(await client.cmd('LOGOUT'), 'OK Goodbye');
  await client.closedPromise;
  await until(() => s.about('nut:nas').includes('late-down'), 'the late-down entry');
  assert.deepEqual(s.about('nut:nas'), ['offline', 'deadline', 'late-order', 'late-down']);
  // still reported as cut short at the deadline, with when it was shown FSD and when it left
  const view = s.nas()!;
  assert.equal(view.state, 'deadline');
  assert.equal(view.orderedAt, lateAt);
  assert.equal(view.downAt, lateAt + 5_000);
  const rec = s.recovered().run?.stages[0]?.members['nut:nas'];
  assert.equal(rec?.state, 'deadline');
  assert.equal(rec?.orderedAt, lateAt);
  assert.equal(rec?.downAt, lateAt + 5_000);
  // a user of another group, whose step has not come, is not shown FSD (and LB stays held back)
  const other = await h.client();
  await other.login('web', 'webpass');
  assert.equal(await other.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB DISCHRG"');
});
