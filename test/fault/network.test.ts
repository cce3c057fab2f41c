/**
 * The fleet on a bad network (issue 10), on real processes each in a network namespace of its own,
 * joined by a bridge the test makes: a host unplugged at its step and the master unplugged while on
 * battery. "Unplugged" takes the host's port on the bridge down, so its connections go silent (no
 * reset), as behind a dead switch. Each scenario asserts from the agents' markers, the simulated UPS's
 * command record and the master's journal: nobody down who should stay up, nobody up who should be
 * down, the order held, and a journal that tells what happened.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { type Entry, marker, onBattery, seq, upsCommands, waitUntil } from './fault-fleet.js';
import { type NetFleet, netFleet } from './net-fleet.js';
import { netLabSkipReason } from './net-lab.js';

const skip = netLabSkipReason();
const root = mkdtempSync(join(tmpdir(), 'upsfleet-net-'));
after(() => rmSync(root, { recursive: true, force: true }));

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
});
