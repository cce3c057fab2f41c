/**
 * The master's whole decision loop in one process on an injected clock: a simulated UPS, the policy, the
 * sequencer and a real agent connection on 127.0.0.1. Mains returning before critical must never order
 * anyone down; mains returning after the sequence started must not stop it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Master } from '../../../master/master.js';
import type { SimulatedSource } from '../../../master/sources/simulated/simulated-source.js';
import { generateToken, hashToken } from '../../../shared/auth/token.js';
import { ManualClock } from '../../../shared/clock.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import { TestClient } from '../../support/ws-client.js';

const TOKEN = generateToken();

async function startMaster(timeline: string, dir: string, clock: ManualClock, cleanup: Array<() => unknown>) {
  const settings = parseMasterSettings(
    JSON.stringify({
      master: { id: 'flow', listen: '127.0.0.1:0', stateDir: 'state', mdns: false },
      ups: { source: { type: 'simulated', script: timeline } },
      policy: { debounce: '10s', critical: { chargeBelow: 50 } },
      sequence: [{ groups: ['app'], deadline: '60s', settle: '0s' }],
      agents: [{ id: 'web1', group: 'app', tokenHash: hashToken(TOKEN) }],
      shutdown: { dryRun: true },
    }),
    join(dir, 'master.yaml'),
  );
  const master = new Master(settings, { logger: silentLogger(), clock });
  cleanup.push(() => master.stop());
  const { port } = await master.start();
  const agent = new TestClient(`ws://127.0.0.1:${port}/ws`);
  cleanup.push(() => agent.close());
  await agent.opened();
  agent.send({
    type: 'hello',
    agentId: 'web1',
    group: 'app',
    version: 't',
    capabilities: [],
    token: TOKEN,
    dryRun: true,
  });
  await agent.waitFor('state');
  return { master, agent };
}

/** Lets sockets deliver what the last clock step caused. */
const settle = () => new Promise((r) => setTimeout(r, 30));

/** Moves the clock a second at a time, letting the sockets answer pings in between, as real time would. */
async function advance(clock: ManualClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    clock.advance(Math.min(1000, left));
    await settle();
  }
}

describe('master decision loop (injected clock, real agent socket)', () => {
  let dir = '';
  let cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
    rmSync(dir, { recursive: true, force: true });
  });

  it('mains returning before the fleet is critical orders nobody down', async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-flow-'));
    const clock = new ManualClock(Date.now());
    const { master, agent } = await startMaster(
      'ups.status: OL\nbattery.charge: 100\nTIMER 5\nups.status: OB DISCHRG\nbattery.charge: 40\nTIMER 5\nups.status: OL CHRG\n',
      dir,
      clock,
      cleanup,
    );
    await advance(clock, 5_000);
    const [onbatt] = await agent.waitFor('event');
    assert.equal(onbatt!.event, 'ONBATT');
    await advance(clock, 5_000); // back on mains 5 s into the 10 s debounce of "charge below 50"
    await advance(clock, 60_000);
    assert.deepEqual(
      agent.messages.filter((m) => m.type === 'event').map((m) => (m.type === 'event' ? m.event : '')),
      ['ONBATT', 'ONLINE'],
    );
    assert.equal(agent.messages.filter((m) => m.type === 'order').length, 0, 'no order');
    assert.equal(master.policy.view().critical, false);
    assert.equal(master.sequencer.view().state, 'idle');
    assert.deepEqual((master.source as SimulatedSource).recordedCommands, [], 'no killpower');
  });

  it('mains returning after the sequence started does not stop it: the load is power-cycled', async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-flow-'));
    const clock = new ManualClock(Date.now());
    const { master, agent } = await startMaster(
      'ups.status: OL\nTIMER 5\nups.status: OB DISCHRG LB\nbattery.charge: 8\nTIMER 15\nups.status: OL CHRG\n',
      dir,
      clock,
      cleanup,
    );
    await advance(clock, 5_000);
    await advance(clock, 10_000); // the debounce passes: critical, step 1 ordered
    const [order] = await agent.waitFor('order');
    assert.equal(order!.step, 1);
    await advance(clock, 5_000); // mains return now
    assert.equal(master.hub.snapshot().vars['ups.status'], 'OL CHRG');
    agent.send({ type: 'ack', orderId: order!.orderId });
    agent.send({ type: 'going-down', orderId: order!.orderId, dryRun: true, hookFailures: 0 });
    // the final step (killpower, dry-run power-off with its log flush) runs on the same clock: keep it moving
    const done = master.sequencer.whenDone();
    let finished = false;
    void done.then(() => {
      finished = true;
    });
    for (let i = 0; i < 200 && !finished; i++) {
      clock.advance(100);
      await settle();
    }
    assert.ok(finished, 'the sequence did not finish');
    assert.deepEqual(
      (master.source as SimulatedSource).recordedCommands.map((c) => c.name),
      ['shutdown.return'],
      'killpower after the last step',
    );
    assert.equal(master.sequencer.view().steps[0]!.members[0]!.state, 'down');
  });
});
