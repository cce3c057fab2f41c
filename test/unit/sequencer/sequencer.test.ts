import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Policy } from '../../../master/policy/policy.js';
import { StateHub } from '../../../master/state/state-hub.js';
import type { EarlyGroupSpec } from '../../../shared/config/master-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import { fleet, step } from './fleet-fixture.js';

describe('sequencer: happy path', () => {
  it('orders step n+1 only after every step-n member is down and the settle passed, then the final step', async () => {
    const f = fleet({
      steps: [step(1, ['app'], 60_000, 2_000), step(2, ['db'], 60_000, 1_000), step(3, ['storage'])],
    });
    f.connect('app-1', 'app');
    f.connect('app-2', 'app');
    f.connect('db-1', 'db');
    f.connect('nas', 'storage', 'nut');
    f.sequencer.start('OB LB');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['app-1', 'app-2'],
    );
    const o = f.orderOf('app-1');
    assert.equal(o.type, 'order');
    assert.equal(o.action, 'shutdown');
    assert.equal(o.reason, 'OB LB');
    assert.equal(o.step, 1);
    assert.equal(o.drill, false);
    assert.equal(o.deadline, f.t0 + 60_000);
    assert.notEqual(o.orderId, f.orderOf('app-2').orderId, 'one order id per member');

    f.clock.advance(1_000);
    f.confirmDown('app-1');
    f.clock.advance(1_000);
    assert.equal(f.member('app-1').state, 'down');
    assert.equal(f.member('app-2').state, 'ordered');
    f.confirmDown('app-2');
    assert.equal(f.sequencer.view().steps[0]!.state, 'settling');
    f.clock.advance(1_999);
    assert.equal(f.sent.length, 2, 'no step-2 order during the settle');
    f.clock.advance(1);
    assert.deepEqual(
      f.sent.map((s) => [s.memberId, s.at]),
      [
        ['app-1', 0],
        ['app-2', 0],
        ['db-1', 4_000],
      ],
    );
    assert.equal(f.orderOf('db-1').step, 2);
    assert.equal(f.orderOf('db-1').deadline, f.t0 + 4_000 + 60_000);

    f.clock.advance(500);
    f.confirmDown('db-1');
    f.clock.advance(1_000);
    assert.equal(f.sent.at(-1)!.memberId, 'nas');
    assert.equal(f.sent.at(-1)!.at, 5_500);
    assert.equal(f.finals.length, 0, 'the master goes last');
    f.clock.advance(100);
    f.disconnect('nas'); // a stock NUT client's logout after seeing FSD
    await f.sequencer.whenDone();
    assert.deepEqual(f.finals, [{ drill: false, reason: 'OB LB', at: 5_600 }]);

    const view = f.sequencer.view();
    assert.equal(view.state, 'done');
    assert.deepEqual(
      view.steps.map((s) => [s.index, s.state, s.endedBy, s.startedAt! - f.t0, s.endedAt! - f.t0]),
      [
        [1, 'done', 'confirmed', 0, 4_000],
        [2, 'done', 'confirmed', 4_000, 5_500],
        [3, 'done', 'confirmed', 5_500, 5_600],
      ],
    );
    const app1 = f.member('app-1');
    assert.equal(app1.orderedAt! - f.t0, 0);
    assert.equal(app1.ackAt! - f.t0, 1_000);
    assert.equal(app1.goingDownAt! - f.t0, 1_000);
    assert.equal(app1.downAt! - f.t0, 1_000);
    assert.equal(app1.cutShortByDeadline, false);
    assert.deepEqual(JSON.parse(JSON.stringify(view)), view, 'the view is plain JSON');

    const kinds = f.timeline
      .filter((e) => e.kind !== 'progress')
      .map((e) => `${e.kind}${e.memberId ? `:${e.memberId}` : ''}${e.step ? `@${e.step}` : ''}`);
    assert.deepEqual(kinds, [
      'sequence-start',
      'step-start@1',
      'order:app-1@1',
      'order:app-2@1',
      'ack:app-1@1',
      'going-down:app-1@1',
      'down:app-1@1',
      'ack:app-2@1',
      'going-down:app-2@1',
      'down:app-2@1',
      'step-end@1',
      'step-start@2',
      'order:db-1@2',
      'ack:db-1@2',
      'going-down:db-1@2',
      'down:db-1@2',
      'step-end@2',
      'step-start@3',
      'order:nas@3',
      'down:nas@3',
      'step-end@3',
      'final-start',
      'final-end',
      'done',
    ]);
  });

  it('start is idempotent', () => {
    const f = fleet({ steps: [step(1, ['app'])] });
    f.connect('app-1', 'app');
    f.sequencer.start('first');
    f.sequencer.start('second');
    assert.equal(f.sent.length, 1);
    assert.equal(f.sequencer.view().reason, 'first');
  });

  it('shows configured steps as waiting while idle', () => {
    const f = fleet({ steps: [step(1, ['app']), step(2, ['db'])] });
    const view = f.sequencer.view();
    assert.equal(view.state, 'idle');
    assert.deepEqual(
      view.steps.map((s) => [s.index, s.state, s.members.length]),
      [
        [1, 'waiting', 0],
        [2, 'waiting', 0],
      ],
    );
  });
});

describe('sequencer: deadlines', () => {
  it('cuts an agent that never acknowledges at the deadline, records it, and proceeds exactly then', () => {
    const f = fleet({ steps: [step(1, ['app'], 10_000, 3_000), step(2, ['db'])] });
    f.connect('silent', 'app');
    f.connect('hooks-forever', 'app');
    f.connect('fine', 'app');
    f.connect('db-1', 'db');
    f.sequencer.start('runtime low');
    f.confirmDown('fine');
    const o = f.orderOf('hooks-forever');
    f.sequencer.onAck('hooks-forever', o.orderId);
    f.sequencer.onProgress('hooks-forever', {
      orderId: o.orderId,
      hook: 1,
      of: 2,
      name: 'stop-db',
      status: 'started',
    });
    f.clock.advance(9_999);
    assert.equal(f.sent.length, 3);
    f.clock.advance(1);
    assert.deepEqual(f.sent.at(-1)!.memberId, 'db-1');
    assert.equal(f.sent.at(-1)!.at, 10_000, 'the next step starts at the deadline exactly, without settle');
    const s1 = f.sequencer.view().steps[0]!;
    assert.equal(s1.endedBy, 'deadline');
    assert.equal(s1.endedAt! - f.t0, 10_000);
    assert.deepEqual(
      s1.members.map((m) => [m.id, m.state, m.cutShortByDeadline, m.reachedAtDeadline]),
      [
        ['silent', 'deadline', true, 'ordered'],
        ['hooks-forever', 'deadline', true, 'acked'],
        ['fine', 'down', false, null],
      ],
    );
    assert.deepEqual(
      f.member('hooks-forever').hooks.map((h) => [h.hook, h.of, h.name, h.status]),
      [[1, 2, 'stop-db', 'started']],
    );
    assert.deepEqual(
      f.timeline.filter((e) => e.kind === 'deadline').map((e) => [e.memberId, e.detail]),
      [
        ['silent', 'ordered'],
        ['hooks-forever', 'acked'],
      ],
    );
    // a late reply for a step that ended is ignored and counted
    assert.equal(f.sequencer.onAck('silent', f.orderOf('silent').orderId), false);
    assert.equal(f.sequencer.view().ignoredMessages, 1);
  });

  it('records what a cut member had reached: going-down without the close', () => {
    const f = fleet({ steps: [step(1, ['app'], 5_000)] });
    f.connect('a', 'app');
    f.sequencer.start('x');
    const { orderId } = f.orderOf('a');
    f.sequencer.onAck('a', orderId);
    f.sequencer.onGoingDown('a', orderId, false);
    f.clock.advance(5_000);
    assert.equal(f.member('a').state, 'deadline');
    assert.equal(f.member('a').reachedAtDeadline, 'going-down');
  });
});

describe('sequencer: offline members', () => {
  it('records an agent offline at its step and re-sends the same order when it connects during the step', () => {
    const f = fleet({ steps: [step(1, ['app'], 30_000), step(2, ['db'])] });
    f.registry.declare('late', 'agent', 'app');
    f.registry.declare('never', 'agent', 'app');
    f.connect('db-1', 'db');
    f.sequencer.start('OB LB');
    assert.equal(f.sent.length, 0);
    assert.equal(f.member('late').state, 'offline');
    assert.equal(f.member('late').offlineAtStep, true);
    assert.equal(f.member('late').orderedAt, null);
    assert.deepEqual(
      f.timeline.filter((e) => e.kind === 'offline').map((e) => e.memberId),
      ['late', 'never'],
    );
    f.clock.advance(5_000);
    f.connect('late', 'app');
    assert.deepEqual(
      f.sent.map((s) => [s.memberId, s.at]),
      [['late', 5_000]],
    );
    const resent = f.orderOf('late');
    assert.equal(resent.orderId, f.member('late').orderId);
    assert.equal(resent.deadline, f.t0 + 30_000, 'the same order: the deadline of its step');
    assert.equal(f.member('late').state, 'ordered');
    f.confirmDown('late');
    assert.equal(f.member('late').state, 'down');
    assert.equal(f.member('late').offlineAtStep, true);
    f.clock.advance(25_000);
    assert.equal(f.member('never').state, 'deadline');
    assert.equal(f.member('never').reachedAtDeadline, 'offline');
    assert.equal(f.sent.at(-1)!.memberId, 'db-1');
  });

  it('re-sends the very same order message after a reconnect', () => {
    const f = fleet({ steps: [step(1, ['app'])] });
    f.connect('a', 'app');
    f.sequencer.start('x');
    const first = f.orderOf('a');
    f.sequencer.onAck('a', first.orderId);
    f.disconnect('a');
    assert.equal(f.member('a').state, 'acked', 'a close before going-down does not confirm');
    assert.notEqual(f.member('a').disconnectedAt, null);
    f.clock.advance(1_000);
    f.connect('a', 'app');
    assert.deepEqual(f.orderOf('a'), first);
    assert.equal(f.member('a').disconnectedAt, null);
  });

  it('does not re-send to a member that connects after its step ended', () => {
    const f = fleet({ steps: [step(1, ['app'], 1_000), step(2, ['db'], 1_000)] });
    f.registry.declare('a', 'agent', 'app');
    f.registry.declare('d', 'agent', 'db');
    f.sequencer.start('x');
    f.clock.advance(1_000);
    f.connect('a', 'app');
    assert.equal(f.sent.length, 0);
  });
});

describe('sequencer: confirmation', () => {
  it('a dry-run going-down confirms down by itself', () => {
    const f = fleet({ steps: [step(1, ['app'])] });
    f.connect('a', 'app');
    f.sequencer.start('x');
    const { orderId } = f.orderOf('a');
    assert.equal(f.sequencer.onAck('a', orderId), true);
    assert.equal(f.sequencer.onGoingDown('a', orderId, true, 1), true);
    const a = f.member('a');
    assert.equal(a.state, 'down');
    assert.equal(a.dryRun, true);
    assert.equal(a.hookFailures, 1);
    assert.equal(f.sequencer.view().steps[0]!.endedBy, 'confirmed');
  });

  it('a real going-down needs the connection to close; a close before it does not confirm', () => {
    const f = fleet({ steps: [step(1, ['app'], 10_000), step(2, ['db'])] });
    f.connect('a', 'app');
    f.connect('d', 'db');
    f.sequencer.start('x');
    const { orderId } = f.orderOf('a');
    f.sequencer.onAck('a', orderId);
    f.disconnect('a');
    assert.equal(f.member('a').state, 'acked');
    f.connect('a', 'app');
    f.sequencer.onAck('a', orderId); // the agent replays after the re-sent order: harmless
    f.sequencer.onGoingDown('a', orderId, false);
    assert.equal(f.member('a').state, 'going-down');
    assert.equal(f.sent.filter((s) => s.memberId === 'd').length, 0);
    f.disconnect('a');
    assert.equal(f.member('a').state, 'down');
    assert.equal(f.sent.at(-1)!.memberId, 'd');
    assert.equal(f.sequencer.view().ignoredMessages, 0);
  });

  it('a NUT member is confirmed down by its disconnect after the order', () => {
    const f = fleet({ steps: [step(1, ['@secondaries'])] });
    f.connect('nut:10.0.0.5', '@secondaries', 'nut');
    f.sequencer.start('x');
    assert.equal(f.member('nut:10.0.0.5').state, 'ordered');
    assert.equal(
      f.sequencer.onAck('nut:10.0.0.5', f.orderOf('nut:10.0.0.5').orderId),
      true,
      'accepted, changes nothing',
    );
    assert.equal(f.member('nut:10.0.0.5').state, 'ordered');
    f.disconnect('nut:10.0.0.5');
    assert.equal(f.member('nut:10.0.0.5').state, 'down');
  });

  it('a drill never orders a stock NUT client (it has no dry-run: FSD would really shut it down)', () => {
    const f = fleet({ steps: [step(1, ['app', 'storage'])] });
    f.connect('a', 'app');
    f.connect('nut:nas@10.0.0.7:40000', 'storage', 'nut');
    f.sequencer.start('drill', { drill: true });
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['a'],
    );
    assert.equal(f.member('nut:nas@10.0.0.7:40000').state, 'down');
    assert.ok(f.timeline.some((e) => e.kind === 'down' && e.detail === 'drill: NUT client not ordered'));
  });

  it('a NUT client that left without being ordered is forgotten, so its reconnect is not waited for as offline', () => {
    const f = fleet({ steps: [step(1, ['storage'], 60_000)] });
    f.connect('nut:nas@10.0.0.7:40000', 'storage', 'nut');
    f.disconnect('nut:nas@10.0.0.7:40000');
    f.registry.forget('nut:nas@10.0.0.7:40000');
    f.connect('nut:nas@10.0.0.7:40001', 'storage', 'nut');
    f.sequencer.start('x');
    f.disconnect('nut:nas@10.0.0.7:40001');
    assert.equal(f.sequencer.view().steps[0]!.state, 'done', 'no stale member kept the step waiting');
  });

  it('a member connecting into its running step is ordered too', () => {
    const f = fleet({ steps: [step(1, ['@secondaries'])] });
    f.connect('nut:a', '@secondaries', 'nut');
    f.sequencer.start('x');
    f.connect('nut:b', '@secondaries', 'nut');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['nut:a', 'nut:b'],
    );
    f.disconnect('nut:a');
    assert.equal(f.sequencer.view().steps[0]!.state, 'running');
    f.disconnect('nut:b');
    assert.equal(f.sequencer.view().steps[0]!.state, 'done');
  });

  it('ignores and counts a wrong order id or a member not in the running step', () => {
    const f = fleet({ steps: [step(1, ['app']), step(2, ['db'])] });
    f.connect('a', 'app');
    f.connect('d', 'db');
    f.sequencer.start('x');
    const { orderId } = f.orderOf('a');
    assert.equal(f.sequencer.onAck('a', 'not-the-order'), false);
    assert.equal(f.sequencer.onGoingDown('a', 'not-the-order', true), false);
    assert.equal(f.sequencer.onAck('d', orderId), false);
    assert.equal(f.sequencer.onAck('stranger', orderId), false);
    assert.equal(
      f.sequencer.onProgress('a', { orderId: 'nope', hook: 1, of: 1, name: 'h', status: 'ok' }),
      false,
    );
    assert.equal(f.member('a').state, 'ordered');
    assert.equal(f.sequencer.view().ignoredMessages, 5);
  });
});

describe('sequencer: steps and the final step', () => {
  it('an empty step ends at once and is recorded', async () => {
    const f = fleet({ steps: [step(1, ['nobody']), step(2, ['app'])] });
    f.connect('a', 'app');
    f.sequencer.start('x');
    assert.deepEqual(
      f.sent.map((s) => [s.memberId, s.order.step, s.at]),
      [['a', 2, 0]],
    );
    const s1 = f.sequencer.view().steps[0]!;
    assert.equal(s1.state, 'done');
    assert.equal(s1.endedBy, 'empty');
    assert.deepEqual(s1.members, []);
  });

  it('awaits the final step after the last step and only then is done', async () => {
    let release: () => void = () => {};
    const calls: Array<{ drill: boolean; reason: string }> = [];
    const f = fleet({
      steps: [step(1, ['app'])],
      finalStep: (ctx) => {
        calls.push(ctx);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    f.connect('a', 'app');
    f.sequencer.start('FSD in ups.status');
    assert.equal(calls.length, 0);
    f.confirmDown('a');
    assert.deepEqual(calls, [{ drill: false, reason: 'FSD in ups.status' }]);
    assert.equal(f.sequencer.view().state, 'final');
    assert.equal(f.sequencer.view().final.endedAt, null);
    await f.flush();
    assert.equal(f.sequencer.view().state, 'final', 'still waiting for the final step');
    f.clock.advance(7_000);
    release();
    await f.sequencer.whenDone();
    const view = f.sequencer.view();
    assert.equal(view.state, 'done');
    assert.equal(view.final.startedAt! - f.t0, 0);
    assert.equal(view.final.endedAt! - f.t0, 7_000);
    assert.equal(view.final.error, null);
    assert.deepEqual(
      f.timeline.slice(-3).map((e) => e.kind),
      ['final-start', 'final-end', 'done'],
    );
  });

  it('records a failing final step and still finishes', async () => {
    const f = fleet({
      steps: [],
      finalStep: async () => {
        throw new Error('killpower failed');
      },
    });
    f.sequencer.start('x');
    await f.sequencer.whenDone();
    assert.equal(f.sequencer.view().state, 'done');
    assert.equal(f.sequencer.view().final.error, 'killpower failed');
  });

  it('propagates the drill flag to every order, the timeline and the final step', async () => {
    const f = fleet({ steps: [step(1, ['app']), step(2, ['db'])] });
    f.connect('a', 'app');
    f.connect('d', 'db');
    f.sequencer.start('drill requested by admin', { drill: true });
    const a = f.orderOf('a');
    assert.equal(a.drill, true);
    f.sequencer.onAck('a', a.orderId);
    f.sequencer.onGoingDown('a', a.orderId, true);
    assert.equal(
      f.sequencer.onDrillReport('a', {
        orderId: a.orderId,
        hooks: [{ name: 'stop', status: 'skipped', durationMs: 3 }],
      }),
      true,
    );
    assert.deepEqual(f.member('a').drillReport, [{ name: 'stop', status: 'skipped', durationMs: 3 }]);
    const d = f.orderOf('d');
    assert.equal(d.drill, true);
    f.sequencer.onAck('d', d.orderId);
    f.sequencer.onGoingDown('d', d.orderId, true);
    await f.sequencer.whenDone();
    assert.deepEqual(f.finals, [{ drill: true, reason: 'drill requested by admin', at: 0 }]);
    assert.ok(f.timeline.every((e) => e.drill));
    assert.equal(f.sequencer.view().drill, true);
  });

  it('a drill gives way to a real sequence; a real one is never restarted', async () => {
    const f = fleet({ steps: [step(1, ['app'], 10_000)] });
    f.connect('a', 'app');
    f.sequencer.start('drill', { drill: true });
    const drillOrder = f.orderOf('a');
    f.sequencer.start('OB LB');
    const real = f.orderOf('a');
    assert.equal(real.drill, false);
    assert.notEqual(real.orderId, drillOrder.orderId);
    assert.equal(f.sequencer.onAck('a', drillOrder.orderId), false, 'the drill order is over');
    f.confirmDown('a');
    await f.sequencer.whenDone();
    f.sequencer.start('drill again', { drill: true });
    f.sequencer.start('real again');
    assert.equal(f.sent.length, 2);
    assert.deepEqual(
      f.finals.map((x) => x.drill),
      [false],
    );
  });
});

describe('sequencer: mains returning', () => {
  it('a critical fleet keeps going down when mains return (no cancel)', async () => {
    const f = fleet({ steps: [step(1, ['app'], 10_000), step(2, ['db'], 10_000)] });
    const hub = new StateHub('ups', f.clock);
    const policy = new Policy({
      clock: f.clock,
      logger: silentLogger(),
      debounceMs: 1_000,
      deadtimeMs: 5_000,
      critical: {},
      earlyGroups: [],
    });
    policy.subscribe({ critical: (reason) => f.sequencer.start(reason) });
    policy.attach(hub);
    f.connect('a', 'app');
    f.connect('d', 'db');
    hub.publishVars({ 'ups.status': 'OB LB' });
    f.clock.advance(1_000);
    assert.equal(f.sequencer.view().state, 'running');
    hub.publishVars({ 'ups.status': 'OL CHRG' });
    f.confirmDown('a');
    f.clock.advance(10_000);
    await f.sequencer.whenDone();
    assert.equal(f.sequencer.view().state, 'done');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['a', 'd'],
    );
    assert.equal(f.finals.length, 1);
    policy.stop();
  });
});

describe('sequencer: early groups', () => {
  const lab: EarlyGroupSpec = {
    name: 'lab',
    trigger: { onBatteryForMs: 60_000 },
    deadlineMs: 20_000,
    settleMs: 1_000,
  };
  const kids: EarlyGroupSpec = {
    name: 'kids',
    trigger: { chargeBelow: 80 },
    deadlineMs: 20_000,
    settleMs: 0,
  };

  it('orders one early group alone, with its own deadline, independently of the fleet', () => {
    const f = fleet({ steps: [step(1, ['app'])], earlyGroups: [lab, kids] });
    f.connect('lab-1', 'lab');
    f.connect('lab-2', 'lab');
    f.connect('kid-1', 'kids');
    f.connect('a', 'app');
    f.sequencer.startEarly('lab', 'on battery for 60s');
    f.sequencer.startEarly('lab', 'again');
    f.sequencer.startEarly('not-early', 'x');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['lab-1', 'lab-2'],
    );
    const o = f.orderOf('lab-1');
    assert.equal(o.step, null);
    assert.equal(o.deadline, f.t0 + 20_000);
    assert.equal(f.sequencer.view().state, 'idle');
    f.confirmDown('lab-1');
    f.clock.advance(20_000);
    const view = f.sequencer.view();
    const labView = view.early.find((e) => e.group === 'lab')!;
    assert.equal(labView.state, 'done');
    assert.equal(labView.endedBy, 'deadline');
    assert.equal(labView.reason, 'on battery for 60s');
    assert.deepEqual(
      labView.members.map((m) => [m.id, m.state]),
      [
        ['lab-1', 'down'],
        ['lab-2', 'deadline'],
      ],
    );
    assert.equal(view.early.find((e) => e.group === 'kids')!.state, 'waiting');
    assert.ok(
      f.timeline
        .filter((e) => e.memberId?.startsWith('lab'))
        .every((e) => e.early === 'lab' && e.step === undefined),
    );
  });

  it('when the fleet starts, early groups not yet started go too, and down members are not ordered again', () => {
    const f = fleet({ steps: [step(1, ['app'])], earlyGroups: [lab, kids] });
    f.connect('lab-1', 'lab');
    f.connect('kid-1', 'kids');
    f.connect('a', 'app');
    f.sequencer.startEarly('lab', 'on battery for 60s');
    f.confirmDown('lab-1');
    f.sequencer.start('OB LB');
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['lab-1', 'kid-1', 'a'],
    );
    assert.equal(f.orderOf('kid-1').reason, 'OB LB');
    assert.equal(f.orderOf('kid-1').step, null);
  });

  it('a member already down with its early group is recorded, not ordered, by a fleet step', () => {
    // groups may not be both early and in the sequence in a config, but the sequencer is safe anyway
    const f = fleet({ steps: [step(1, ['lab'])], earlyGroups: [{ ...lab, settleMs: 0 }] });
    f.connect('lab-1', 'lab');
    f.sequencer.startEarly('lab', 'early');
    f.confirmDown('lab-1');
    f.sequencer.start('OB LB');
    assert.equal(f.sent.length, 1);
    const s1 = f.sequencer.view().steps[0]!;
    assert.equal(s1.endedBy, 'confirmed');
    assert.equal(s1.members[0]!.downEarly, true);
  });
});

describe('sequencer: stop', () => {
  it('cancels its timers', () => {
    const f = fleet({ steps: [step(1, ['app'], 10_000), step(2, ['db'])] });
    f.connect('a', 'app');
    f.connect('d', 'db');
    f.sequencer.start('x');
    f.sequencer.stop();
    assert.equal(f.clock.pendingTimers(), 0);
    f.clock.advance(60_000);
    assert.deepEqual(
      f.sent.map((s) => s.memberId),
      ['a'],
    );
  });
});
