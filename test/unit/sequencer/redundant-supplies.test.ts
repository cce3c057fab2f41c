/**
 * The master's side of redundant supplies (NUT's MINSUPPLIES): an agent that declared other supplies
 * which alone keep it at its minSupplies is not ordered by this master's outage, not waited for and not
 * counted as down ("redundantly fed", journaled); once it reports its other supplies lost while its stage
 * runs or after it, it is ordered then. A decline marks it redundantly fed; a restart keeps the decision.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberChannel } from '../../../master/fleet/registry.js';
import { emptyRecoveredState, reduceRecovered } from '../../../master/journal/recovery.js';
import type { SupplyDeclarationT } from '../../../shared/protocol/messages.js';
import { fleet, step } from './fleet-fixture.js';

type Fleet = ReturnType<typeof fleet>;

const fedByOthers: SupplyDeclarationT = { powerValue: 1, minSupplies: 1, total: 2, others: 1 };
const othersLost: SupplyDeclarationT = { ...fedByOthers, others: 0 };

/** Connects an agent that declared its supplies in hello, with a channel recording its orders. */
function connectDual(f: Fleet, id: string, group: string, supplies: SupplyDeclarationT): MemberChannel {
  const channel: MemberChannel = {
    sendOrder: (order) => f.sent.push({ memberId: id, at: f.clock.now() - f.t0, order }),
  };
  f.registry.connect(
    {
      id,
      kind: 'agent',
      group,
      version: '1',
      dryRun: false,
      address: '127.0.0.1',
      lastSeen: f.clock.now(),
      supplies,
    },
    channel,
  );
  return channel;
}

const ordersTo = (f: Fleet, id: string) => f.sent.filter((s) => s.memberId === id);
const entries = (f: Fleet, kind: string, id?: string) =>
  f.timeline.filter((e) => e.kind === kind && (id === undefined || e.memberId === id));

describe('sequencer: redundant supplies', () => {
  it('a host fed by its other supplies is not ordered, not waited for, and journaled as redundantly fed', () => {
    const f = fleet({ steps: [step(1, ['app']), step(2, ['db'])] });
    f.connect('app-1', 'app');
    connectDual(f, 'dual', 'app', fedByOthers);
    f.connect('db-1', 'db');
    f.sequencer.start('OB LB');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['app-1'],
      'only the single-supply member is ordered',
    );
    assert.equal(f.member('dual').state, 'redundantly-fed');
    assert.equal(f.member('dual').redundantAt, f.t0);
    const rec = entries(f, 'redundantly-fed', 'dual');
    assert.equal(rec.length, 1);
    assert.match(rec[0]!.detail ?? '', /others give 1 of minSupplies 1/);
    f.clock.advance(1_000);
    f.confirmDown('app-1');
    const steps = f.sequencer.view().steps;
    assert.equal(steps[0]!.state, 'done', 'the step does not wait for the redundantly fed host');
    assert.equal(steps[0]!.endedBy, 'confirmed');
    assert.equal(f.member('dual').state, 'redundantly-fed', 'not counted as down');
    assert.equal(f.member('dual').downAt, null);
    assert.deepEqual(
      ordersTo(f, 'db-1').map((s) => s.at),
      [1_000],
      'step 2 follows at once',
    );
  });

  it('a host without declared supplies (single supply, or an older agent) is ordered as ever', () => {
    const f = fleet({ steps: [step(1, ['app'])] });
    connectDual(f, 'short', 'app', othersLost);
    f.connect('old', 'app');
    f.sequencer.start('OB LB');
    assert.deepEqual(f.sent.map((s) => s.memberId).sort(), ['old', 'short']);
  });

  it('its other supplies lost while its step runs: ordered then, and the step waits for it', () => {
    const f = fleet({ steps: [step(1, ['app'], 60_000, 2_000), step(2, ['db'])] });
    f.connect('app-1', 'app');
    connectDual(f, 'dual', 'app', fedByOthers);
    f.connect('db-1', 'db');
    f.sequencer.start('OB LB');
    f.clock.advance(1_000);
    f.confirmDown('app-1');
    assert.equal(f.sequencer.view().steps[0]!.state, 'settling');
    f.clock.advance(500);
    f.registry.updateSupplies('dual', othersLost);
    const order = ordersTo(f, 'dual');
    assert.equal(order.length, 1, 'ordered once its other supplies are lost');
    assert.equal(order[0]!.order.step, 1);
    assert.equal(order[0]!.order.deadline, f.t0 + 60_000, "its step's own deadline");
    assert.equal(f.sequencer.view().steps[0]!.state, 'running', 'the step waits for it again');
    assert.match(entries(f, 'order', 'dual')[0]!.detail ?? '', /other supplies are lost/);
    f.clock.advance(5_000);
    assert.equal(ordersTo(f, 'db-1').length, 0, 'step 2 not before it is down');
    const { orderId } = order[0]!.order;
    assert.equal(f.sequencer.onAck('dual', orderId), true);
    assert.equal(f.sequencer.onGoingDown('dual', orderId, true), true);
    assert.equal(f.member('dual').state, 'down');
    f.clock.advance(2_000);
    assert.equal(ordersTo(f, 'db-1').length, 1, 'step 2 after it was down and settled');
  });

  it('its other supplies lost after its step ended: ordered then, and its replies are recorded', () => {
    const f = fleet({ steps: [step(1, ['app']), step(2, ['db'])] });
    connectDual(f, 'dual', 'app', fedByOthers);
    f.connect('db-1', 'db');
    f.sequencer.start('OB LB');
    assert.equal(f.sequencer.view().steps[0]!.state, 'done');
    f.clock.advance(3_000);
    f.registry.updateSupplies('dual', { ...fedByOthers, others: 1 }); // unchanged: nothing happens
    assert.equal(ordersTo(f, 'dual').length, 0);
    f.registry.updateSupplies('dual', othersLost);
    const [sent] = ordersTo(f, 'dual');
    assert.ok(sent, 'ordered after its step');
    assert.equal(sent.order.step, 1);
    assert.match(entries(f, 'order', 'dual')[0]!.detail ?? '', /after its stage/);
    assert.equal(f.sequencer.onAck('dual', sent.order.orderId), true, 'its ack is not ignored');
    assert.equal(f.sequencer.onGoingDown('dual', sent.order.orderId, true), true);
    assert.equal(f.member('dual').state, 'down');
    assert.equal(f.sequencer.view().ignoredMessages, 0);
  });

  it('a decline (the host found itself redundantly fed) releases the step', () => {
    const f = fleet({ steps: [step(1, ['app']), step(2, ['db'])] });
    connectDual(f, 'dual', 'app', othersLost);
    f.connect('db-1', 'db');
    f.sequencer.start('OB LB');
    const { orderId } = f.orderOf('dual');
    f.clock.advance(700);
    assert.equal(f.sequencer.onDecline('dual', orderId, 'redundantly fed, not going down'), true);
    assert.equal(f.member('dual').state, 'redundantly-fed');
    assert.match(entries(f, 'redundantly-fed', 'dual')[0]!.detail ?? '', /^declined: redundantly fed/);
    assert.equal(f.sequencer.view().steps[0]!.state, 'done');
    assert.equal(ordersTo(f, 'db-1').length, 1);
  });

  it('a restarted master keeps the decision: not ordered on reconnect, ordered when the others are lost', () => {
    const f = fleet({ steps: [step(1, ['app'], 60_000), step(2, ['db'])] });
    connectDual(f, 'dual', 'app', fedByOthers);
    f.connect('app-1', 'app');
    f.connect('db-1', 'db');
    f.sequencer.start('OB LB');
    // what the journal holds: every timeline entry as a sequence record, folded as on start
    let state = emptyRecoveredState();
    for (const e of f.timeline)
      state = reduceRecovered(state, { ...e, kind: 'sequence', event: e.kind, seq: 0 });
    const recovered = state.run?.stages[0]?.members.dual;
    assert.equal(recovered?.state, 'redundantly-fed');

    const g = fleet({ steps: [step(1, ['app'], 60_000), step(2, ['db'])] });
    g.sequencer.resume(state);
    connectDual(g, 'dual', 'app', fedByOthers);
    g.connect('app-1', 'app');
    assert.deepEqual(
      g.sent.map((s) => s.memberId),
      ['app-1'],
      'app-1 gets its order again; dual, still redundantly fed, none',
    );
    g.registry.updateSupplies('dual', othersLost);
    assert.equal(ordersTo(g, 'dual')[0]?.order.orderId, recovered?.orderId, 'the same order id');
  });
});
