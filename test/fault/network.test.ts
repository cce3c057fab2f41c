/**
 * The fleet on a bad network (issue 10), on real processes each in a network namespace of its own,
 * joined by a bridge the test makes: a host unplugged at its step and the master unplugged while on
 * battery. "Unplugged" takes the host's port on the bridge down, so its connections go silent (no
 * reset), as behind a dead switch. Each scenario asserts from the agents' markers, the simulated UPS's
 * command record and the master's journal: nobody down who should stay up, nobody up who should be
 * down, the order held, and a journal that tells what happened.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stopProcesses } from '../../cli/demo/fleet-launcher.js';
import { skewedClock } from '../support/skewed-clock.js';
import { type Entry, marker, onBattery, seq, upsCommands, waitUntil } from './fault-fleet.js';
import { type NetFleet, netFleet } from './net-fleet.js';
import { netLabSkipReason } from './net-lab.js';

const skip = netLabSkipReason();
const root = mkdtempSync(join(tmpdir(), 'upsfleet-net-'));
after(() => rmSync(root, { recursive: true, force: true }));

const RELAY = fileURLToPath(new URL('../support/delay-relay.ts', import.meta.url));

/** The master's own record of a run, with times from the master's clock (agents' clocks may be skewed). */
function assertRunFromJournal(j: Entry[], ids: { stepOne: string[]; stepTwo: string[] }): void {
  const runId = seq(j, 'sequence-start').find((e) => e.drill !== true)?.runId;
  assert.ok(runId, 'a run started');
  const ev = (id: string, event: string) =>
    j.filter((e) => e.kind === 'sequence' && e.runId === runId && e.memberId === id && e.event === event);
  for (const id of [...ids.stepOne, ...ids.stepTwo]) {
    assert.equal(ev(id, 'down').length, 1, `${id} confirmed down once`);
    assert.equal(ev(id, 'deadline').length, 0, `${id} not cut short`);
  }
  const stepOneEnd = seq(j, 'step-end').find((e) => e.runId === runId && e.step === 1)!;
  assert.equal(stepOneEnd.endedBy, 'confirmed', 'step 1 confirmed, not ended by its deadline');
  for (const id of ids.stepTwo)
    assert.ok(
      (ev(id, 'order')[0]?.seq as number) > (stepOneEnd.seq as number),
      `${id} ordered after step 1 ended`,
    );
  const lastDown = Math.max(
    ...[...ids.stepOne, ...ids.stepTwo].map((id) => ev(id, 'down')[0]!.seq as number),
  );
  const killpower = j.find((e) => e.kind === 'killpower-sending' || e.kind === 'killpower');
  assert.ok(
    killpower && (killpower.seq as number) > lastDown,
    'killpower decided after every member was down',
  );
}

const memberEvents = (j: Entry[], id: string) =>
  j.filter((e) => e.kind === 'sequence' && e.memberId === id).map((e) => e.event);

describe('the fleet on a bad network (network namespaces)', { skip: skip ?? false }, () => {
  let net: NetFleet | undefined;
  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('an agent unplugged at its step: its step waits out its deadline, the next step and killpower follow, and the unplugged host goes down on its own', async () => {
    net = await netFleet({ dir: mkdtempSync(join(root, 'agent-unplugged-')), deadline: '12s' });
    const { fleet, lab } = net;
    await onBattery(fleet);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 10_000);
    await new Promise((r) => setTimeout(r, 500)); // every agent has the OB state
    lab.unplug('app1');
    await onBattery(fleet, true);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 60_000);
    await waitUntil('app1 goes down on its own', () => marker(fleet, 'app1') !== null, 30_000);

    const j = fleet.journal();
    const stepOneEnd = seq(j, 'step-end').find((e) => e.step === 1)!;
    assert.equal(stepOneEnd.endedBy, 'deadline', 'step 1 was not confirmed: it ended at its deadline');
    assert.ok(
      !memberEvents(j, 'app1').includes('down'),
      `app1 never counted as down (${memberEvents(j, 'app1')})`,
    );
    assert.ok(memberEvents(j, 'app1').includes('deadline'), 'app1 recorded as cut short at the deadline');
    assert.ok(memberEvents(j, 'app2').includes('down'), 'app2 confirmed down');

    const db1 = marker(fleet, 'db1')!;
    assert.ok(db1.orderReceivedAt! >= (stepOneEnd.ts as number), 'db1 ordered only after step 1 ended');
    const app1 = marker(fleet, 'app1')!;
    assert.equal(app1.orderId, null, 'app1 went down on its own (no order reached it)');
    assert.match(app1.reason, /master unreachable/);

    const kp = upsCommands(fleet).filter((c) => c.name === 'shutdown.return');
    assert.equal(kp.length, 1, 'killpower reached the UPS once');
    assert.ok(
      kp[0]!.at > db1.ts && kp[0]!.at > marker(fleet, 'app2')!.ts,
      'killpower after the confirmed agents',
    );
    assert.ok(marker(fleet, 'master')!.ts >= kp[0]!.at, 'the master powered off last');
  });

  it('the master unplugged while on battery: every agent goes down on its own, in step order, and nobody orders anything', async () => {
    net = await netFleet({
      dir: mkdtempSync(join(root, 'master-unplugged-')),
      agentDeadtime: '8s',
      lostMasterSpacing: '6s',
    });
    const { fleet, lab } = net;
    await onBattery(fleet);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    const unpluggedAt = Date.now();
    lab.unplug('master');
    await waitUntil(
      'every agent down on its own',
      () => fleet.agents.every((a) => marker(fleet, a.id) !== null),
      60_000,
    );
    const m = Object.fromEntries(fleet.agents.map((a) => [a.id, marker(fleet, a.id)!]));
    for (const id of ['app1', 'app2', 'db1']) {
      assert.equal(m[id]!.orderId, null, `${id} went down without an order`);
      assert.match(m[id]!.reason, /master unreachable/, `${id} says why`);
      // deadtime (8 s) counted from the last message, which came at most one ping (2 s) before the cut
      assert.ok(
        m[id]!.ts - unpluggedAt >= 8_000 - 2_000,
        `${id} waited its deadtime (${m[id]!.ts - unpluggedAt} ms)`,
      );
    }
    const stepOneLast = Math.max(m.app1!.ts, m.app2!.ts);
    assert.ok(
      m.db1!.ts - stepOneLast >= 6_000 - 2_000,
      `db1 (step 2) went one spacing after step 1 (${m.db1!.ts - stepOneLast} ms)`,
    );
    const j = fleet.journal();
    assert.equal(
      seq(j, 'sequence-start').length,
      0,
      'the master started no sequence (it was never critical)',
    );
    assert.equal(upsCommands(fleet).filter((c) => c.name === 'shutdown.return').length, 0, 'no killpower');
    assert.equal(marker(fleet, 'master'), null, 'the master itself stays up (on battery, not critical)');
  });

  it('a partition that heals before the deadtime: 8 agents cut at once for 30 s on battery (deadtime 45 s), none goes down', async () => {
    const cut = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'];
    net = await netFleet({
      dir: mkdtempSync(join(root, 'partition-heals-')),
      stepOne: cut,
      agentDeadtime: '45s',
      lostMasterSpacing: '10s',
      agentReconnect: null, // the agent's own backoff, as deployed: the race is in it
    });
    const { fleet, lab } = net;
    await onBattery(fleet);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    const cutAt = Date.now();
    for (const id of cut) lab.unplug(id);
    await new Promise((r) => setTimeout(r, 30_000));
    for (const id of cut) lab.plug(id);
    // past every cut agent's deadtime counted from its last message before the cut, plus a margin
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + 45_000 + 10_000 - Date.now())));
    const down = fleet.agents.filter((a) => marker(fleet, a.id) !== null).map((a) => a.id);
    assert.deepEqual(down, [], 'no agent powered off after the link came back in time');
    const status = await fleet.getJson<{ agents: Array<{ id: string; connected: boolean }> }>('/status');
    const offline = status.agents.filter((a) => !a.connected).map((a) => a.id);
    assert.deepEqual(offline, [], 'every agent reconnected');
    assert.equal(seq(fleet.journal(), 'sequence-start').length, 0, 'no sequence ran');
  });

  it('an agent behind a 10 s round trip (5 s each way) stays connected, is ordered at its step and confirmed, in order', async () => {
    const relays: ChildProcess[] = [];
    try {
      net = await netFleet({
        dir: mkdtempSync(join(root, 'slow-link-')),
        deadline: '60s',
        agentMasterUrls: (id, url, lab) => {
          if (id !== 'app1') return [url];
          // the relay runs in app1's own namespace: only app1's traffic crawls
          const to = new URL(url.replace(/^wss:/, 'https:'));
          const child = spawn(
            'ip',
            [
              'netns',
              'exec',
              lab.namespace('app1'),
              process.execPath,
              '--import',
              'tsx',
              RELAY,
              '--listen',
              '127.0.0.1:17000',
              '--to',
              `${to.hostname}:${to.port}`,
              '--delay-ms',
              '5000',
            ],
            { stdio: 'ignore' },
          );
          relays.push(child);
          return ['wss://127.0.0.1:17000/ws'];
        },
      });
      const { fleet } = net;
      const link = async () =>
        (
          await fleet.getJson<{ agents: Array<{ id: string; link?: { rttMs?: number } }> }>('/status')
        ).agents.find((a) => a.id === 'app1')?.link;
      const deadlineRtt = Date.now() + 60_000;
      for (;;) {
        const rtt = (await link())?.rttMs ?? 0;
        if (rtt >= 9_000) break;
        if (Date.now() > deadlineRtt) assert.fail(`app1's RTT never measured near 10 s (last ${rtt} ms)`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await onBattery(fleet);
      await new Promise((r) => setTimeout(r, 12_000)); // the OB state reaches app1 over the slow link
      await onBattery(fleet, true);
      await fleet.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 150_000);
      const j = fleet.journal();
      assertRunFromJournal(j, { stepOne: ['app1', 'app2'], stepTwo: ['db1'] });
      const app1Drops = j.filter(
        (e) => e.kind === 'sequence' && e.memberId === 'app1' && e.event === 'offline',
      );
      assert.equal(app1Drops.length, 0, 'app1 was never taken for offline');
      assert.ok(marker(fleet, 'app1')?.orderId, 'app1 acted on its order');
    } finally {
      await stopProcesses(relays);
    }
  });

  it('clock skew of +1 h and -1 h on two agents: welcomed, ordered and confirmed in order', async () => {
    net = await netFleet({
      dir: mkdtempSync(join(root, 'skew-')),
      deadline: '30s',
      extraWrap: (who) => (who === 'app2' ? skewedClock('+1h') : who === 'db1' ? skewedClock('-1h') : []),
    });
    const { fleet } = net;
    const status = await fleet.getJson<{ agents: Array<{ id: string; link?: { clockSkewMs?: number } }> }>(
      '/status',
    );
    const skew = (id: string) => status.agents.find((a) => a.id === id)?.link?.clockSkewMs ?? 0;
    assert.ok(Math.abs(skew('app2') - 3_600_000) < 60_000, `app2's skew reported (${skew('app2')} ms)`);
    assert.ok(Math.abs(skew('db1') + 3_600_000) < 60_000, `db1's skew reported (${skew('db1')} ms)`);
    await onBattery(fleet);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 10_000);
    await onBattery(fleet, true);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 90_000);
    assertRunFromJournal(fleet.journal(), { stepOne: ['app1', 'app2'], stepTwo: ['db1'] });
    for (const id of ['app1', 'app2', 'db1'])
      assert.ok(marker(fleet, id)?.orderId, `${id} acted on its order`);
  });
});
