import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentBody } from '../../../agent/master-connection.js';
import { OrderExecutor } from '../../../agent/order-executor.js';
import { ManualClock } from '../../../shared/clock.js';
import type { HookRunSummary, RunHooksOptions } from '../../../shared/exec/hook-runner.js';
import type { PowerOffOptions, PowerOffResult } from '../../../shared/exec/power-off.js';
import type { CommandResult } from '../../../shared/exec/run-command.js';
import { silentLogger } from '../../../shared/logger.js';
import type { OrderMsg } from '../../../shared/protocol/messages.js';

const okResult: CommandResult = {
  exitCode: 0,
  signal: null,
  durationMs: 5,
  timedOut: false,
  stdout: '',
  stderr: '',
  outputTruncated: false,
};

function order(orderId: string, drill = false): OrderMsg {
  return {
    v: 1,
    type: 'order',
    id: `m-${orderId}`,
    ts: 0,
    orderId,
    action: 'shutdown',
    reason: 'critical',
    deadline: 0,
    step: 1,
    drill,
  };
}

/** An executor whose hooks and power-off are recorded, not run; hooks finish when `release` is called. */
function setup(opts: { dryRun?: boolean; powerOffOk?: boolean[] } = {}) {
  const sent: AgentBody[] = [];
  const calls = { hooks: 0, powerOff: [] as PowerOffOptions[], started: 0 };
  let release: () => void = () => {};
  const okQueue = [...(opts.powerOffOk ?? [])];
  const executor = new OrderExecutor({
    agentId: 'db-1',
    hooks: [{ name: 'stop-db', run: 'true', timeoutMs: 1_000, drillSafe: false }],
    shutdown: { command: ['true'], dryRun: opts.dryRun ?? false, marker: '/nonexistent/marker' },
    clock: new ManualClock(),
    logger: silentLogger(),
    send: (b) => sent.push(b),
    onPowerOffStarted: () => calls.started++,
    runHooks: async (_hooks, o: RunHooksOptions): Promise<HookRunSummary> => {
      calls.hooks++;
      o.onProgress?.({ index: 1, of: 1, name: 'stop-db', status: 'started' });
      await new Promise<void>((r) => {
        release = r;
      });
      o.onProgress?.({ index: 1, of: 1, name: 'stop-db', status: 'failed', durationMs: 3 });
      return { outcomes: [{ name: 'stop-db', status: 'failed', durationMs: 3 }], failures: 1, durationMs: 3 };
    },
    powerOff: async (o: PowerOffOptions): Promise<PowerOffResult> => {
      calls.powerOff.push(o);
      if (o.dryRun) return { dryRun: true, ok: true, marker: o.marker };
      o.onStarted?.();
      return { dryRun: false, ok: okQueue.shift() ?? true, result: okResult };
    },
  });
  const summary = () =>
    sent.map(
      (b) =>
        `${b.type}${'orderId' in b ? `:${b.orderId}` : ''}${b.type === 'progress' ? `:${b.status}` : ''}`,
    );
  return { executor, sent, calls, summary, release: () => release() };
}

const tick = () => new Promise((r) => setImmediate(r));

test('real order: ack at once, progress, going-down with the hook failures, then power-off; the link is closed on start', async () => {
  const { executor, calls, summary, release } = setup();
  executor.handleOrder(order('o1'));
  assert.deepEqual(summary(), ['ack:o1'], 'ack is sent at once');
  await tick();
  assert.deepEqual(summary(), ['ack:o1', 'progress:o1:started'], 'then the hooks start');
  release();
  await executor.idle();
  assert.deepEqual(summary(), ['ack:o1', 'progress:o1:started', 'progress:o1:failed', 'going-down:o1']);
  assert.equal(calls.powerOff.length, 1);
  assert.equal(calls.powerOff[0]?.orderId, 'o1');
  assert.equal(calls.powerOff[0]?.id, 'db-1');
  assert.equal(calls.started, 1);
});

test('a re-sent order while the hooks still run replays ack and progress, and never starts a second run', async () => {
  const { executor, calls, summary, release } = setup();
  executor.handleOrder(order('o1'));
  await tick();
  executor.handleOrder(order('o1'));
  assert.deepEqual(summary(), ['ack:o1', 'progress:o1:started', 'ack:o1', 'progress:o1:started']);
  release();
  await executor.idle();
  assert.equal(calls.hooks, 1);
  assert.equal(calls.powerOff.length, 1);
});

test('a second order id during a shutdown joins it: both get progress and going-down, one power-off', async () => {
  const { executor, calls, summary, release } = setup();
  executor.handleOrder(order('o1'));
  await tick();
  executor.handleOrder(order('o2'));
  release();
  await executor.idle();
  assert.deepEqual(summary(), [
    'ack:o1',
    'progress:o1:started',
    'ack:o2',
    'progress:o2:started',
    'progress:o1:failed',
    'progress:o2:failed',
    'going-down:o1',
    'going-down:o2',
  ]);
  assert.equal(calls.hooks, 1);
  assert.equal(calls.powerOff.length, 1);
});

test('an order after a local-safety shutdown joins it instead of running the hooks again', async () => {
  const { executor, calls, summary, release } = setup();
  executor.shutdownLocally('master unreachable for 15s while on battery');
  await tick();
  release();
  await executor.idle();
  assert.deepEqual(summary(), [], 'nobody to tell while the master is away');
  executor.handleOrder(order('o9'));
  assert.deepEqual(summary(), ['ack:o9', 'progress:o9:failed', 'going-down:o9']);
  assert.equal(calls.hooks, 1);
  assert.equal(calls.powerOff[0]?.reason, 'master unreachable for 15s while on battery');
  assert.equal(calls.powerOff[0]?.orderId, null);
});

test('a failed power-off command is tried again when the master re-sends the order', async () => {
  const { executor, calls, release } = setup({ powerOffOk: [false, true] });
  executor.handleOrder(order('o1'));
  await tick();
  release();
  await executor.idle();
  assert.equal(calls.powerOff.length, 1);
  executor.handleOrder(order('o1'));
  await executor.idle();
  assert.equal(calls.powerOff.length, 2);
  assert.equal(calls.hooks, 1);
  executor.handleOrder(order('o1'));
  await executor.idle();
  assert.equal(calls.powerOff.length, 2, 'a power-off that worked is not repeated');
});

test('dry-run: a later new order runs again (the machine is still up), the same id does not', async () => {
  const { executor, calls, release } = setup({ dryRun: true });
  executor.handleOrder(order('o1'));
  await tick();
  release();
  await executor.idle();
  assert.equal(calls.started, 0, 'dry-run keeps the link open');
  executor.handleOrder(order('o1'));
  await executor.idle();
  assert.equal(calls.hooks, 1);
  executor.handleOrder(order('o2'));
  await tick();
  release();
  await executor.idle();
  assert.equal(calls.hooks, 2);
  assert.equal(calls.powerOff.length, 2);
});

test('drill: no power-off, going-down dry-run then drill-report; a drill during a real shutdown is only acked', async () => {
  const { executor, calls, sent, summary, release } = setup();
  executor.handleOrder(order('d1', true));
  await tick();
  release();
  await executor.idle();
  assert.equal(calls.powerOff.length, 0);
  assert.deepEqual(summary(), [
    'ack:d1',
    'progress:d1:started',
    'progress:d1:failed',
    'going-down:d1',
    'drill-report:d1',
  ]);
  const gd = sent.find((b) => b.type === 'going-down');
  assert.equal(gd?.type === 'going-down' && gd.dryRun, true);

  sent.length = 0;
  executor.handleOrder(order('o1'));
  await tick();
  executor.handleOrder(order('d2', true));
  release();
  await executor.idle();
  assert.deepEqual(summary(), [
    'ack:o1',
    'progress:o1:started',
    'ack:d2',
    'progress:o1:failed',
    'going-down:o1',
  ]);
});
