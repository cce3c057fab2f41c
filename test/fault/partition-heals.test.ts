/**
 * Issue 10, "a partition that heals in time still shuts hosts down". Eight agents on battery lose the
 * master at once through a relay that goes silent (a dead switch: established links silent, new
 * connections refused) for 30 s, with a 45 s deadtime; then the link is back. None of them may power off:
 * no reconnect wait outlasts the deadtime, and one last attempt is made right before it. Each agent runs
 * the agent's own reconnect settings (the defaults): the race is in the random backoff, so eight of them.
 * Real processes on 127.0.0.1 (test/fault/network.test.ts runs the same in network namespaces).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import { marker, onBattery, seq } from './fault-fleet.js';
import { PartitionRelay } from './partition-relay.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-partition-'));
let fleet: RunningFleet | undefined;
let relay: PartitionRelay | undefined;
after(async () => {
  await fleet?.stop();
  await relay?.close();
  rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('8 agents on battery cut from the master for 30 s (deadtime 45 s): none powers off after it heals', {
  timeout: 240_000,
}, async () => {
  const cut = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'];
  let masterPort = 0;
  relay = await PartitionRelay.start(() => masterPort);
  const r = relay;
  fleet = await launchFleet({
    dir: root,
    groups: [{ name: 'app', agents: cut }],
    sequence: [{ groups: ['app'], deadline: '40s', settle: '0s' }],
    timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 3600\n',
    debounce: '1s',
    agentDeadtime: '45s',
    agentReconnect: null, // the agent's own backoff, as deployed: the race is in it
    agentMasterUrls: (_id, url) => {
      masterPort = Number(new URL(url).port);
      return [url.replace(`:${masterPort}/`, `:${r.port}/`)];
    },
  });
  await waitForAgents(fleet, 30_000);
  await onBattery(fleet);
  await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 10_000);
  await sleep(1_000); // the state reached every agent
  const cutAt = Date.now();
  relay.cut();
  await sleep(30_000);
  relay.heal();
  // past every agent's deadtime counted from its last message before the cut, the last attempt's bound and a margin
  await sleep(Math.max(0, cutAt + 45_000 + 5_000 + 10_000 - Date.now()));
  const down = cut.filter((id) => marker(fleet!, id) !== null);
  assert.deepEqual(down, [], 'no agent powered off after the link came back in time');
  const status = await fleet.getJson<{ agents: Array<{ id: string; connected: boolean }> }>('/status');
  assert.deepEqual(
    status.agents.filter((a) => !a.connected).map((a) => a.id),
    [],
    'every agent is connected again',
  );
  assert.equal(seq(fleet.journal(), 'sequence-start').length, 0, 'no sequence ran');
  assert.ok(relay.refused > 0, `the agents' attempts during the cut were refused (${relay.refused})`);
});
