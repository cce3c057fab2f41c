/**
 * Redundant supplies on real processes (issue 10): two masters, each on its own simulated UPS, a
 * dual-supply agent following both (`supplies:`, minSupplies 1) and one single-supply agent per master,
 * all in dry-run. Asserted from the agents' markers and the masters' journals and /status:
 * - UPS A critical while UPS B is on line: A's own agent goes down, the dual agent does not (A journals it
 *   redundantly fed);
 * - a master killed (-9) while its UPS was on line still counts as feeding the dual agent (NUT's rule):
 *   the other UPS going critical does not take it down;
 * - a master killed while its UPS was on battery is lost after the agent's deadtime: the dual agent then
 *   goes down at the other master's order (its order id in the marker);
 * and both with the roles of A and B swapped.
 * Where the machine allows (root, iproute2), every master and agent is a host of its own on a test network
 * (net-lab.ts) and a master is lost by unplugging it, its links going silent as behind a dead switch;
 * elsewhere they run on 127.0.0.1 and a master is lost by kill -9.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import {
  launchFleet,
  type RunningFleet,
  startAgentProcess,
  stopProcesses,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';
import { type Entry, seq, waitUntil } from './fault-fleet.js';
import { createNetLab, type NetLab, netLabSkipReason } from './net-lab.js';

const onNetwork = netLabSkipReason() === null;

const root = mkdtempSync(join(tmpdir(), 'upsfleet-supplies-'));
after(() => rmSync(root, { recursive: true, force: true }));

const AGENT_DEADTIME_S = 4;

type Name = 'A' | 'B';

interface TwoUps {
  ups: Record<Name, RunningFleet>;
  dualMarker: string;
  dual: ChildProcess;
  /** The test network, when the masters and agents run on one. */
  lab: NetLab | null;
  stop(): Promise<void>;
}

/** One master per UPS: step 1 its own agent (a1 / b1), step 2 the dual-supply host. */
async function twoUps(dir: string): Promise<TwoUps> {
  const lab = onNetwork ? createNetLab(['masterA', 'masterB', 'a1', 'b1', 'dual']) : null;
  const host = (name: Name, who: string) => (who === 'master' ? `master${name}` : who);
  const launch = (name: Name) =>
    launchFleet({
      ...(lab ? { wrap: (who: string) => lab.wrap(host(name, who)) } : {}),
      dir: join(dir, name),
      groups: [
        { name: name.toLowerCase(), agents: [`${name.toLowerCase()}1`] },
        { name: 'dual', agents: ['dual'], external: true },
      ],
      sequence: [
        { groups: [name.toLowerCase()], deadline: '20s', settle: '0s' },
        { groups: ['dual'], deadline: '20s', settle: '0s' },
      ],
      timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
      debounce: '1s',
      lostMasterSpacing: '1s',
      agentDeadtime: `${AGENT_DEADTIME_S}s`,
      masterExtra: {
        master: {
          id: `master-${name.toLowerCase()}`,
          listen: `${lab ? lab.address(`master${name}`) : '127.0.0.1'}:0`,
          stateDir: 'state',
          pingInterval: '1s',
          mdns: false,
        },
      },
    });
  let ups: Record<Name, RunningFleet>;
  try {
    ups = { A: await launch('A'), B: await launch('B') };
  } catch (err) {
    lab?.destroy();
    throw err;
  }
  const dualDir = join(dir, 'dual');
  mkdirSync(dualDir, { recursive: true });
  const dualMarker = join(dualDir, 'dual.poweroff');
  const config = join(dualDir, 'dual.yaml');
  const supply = (name: Name) => ({
    name: `ups-${name.toLowerCase()}`,
    master: { urls: [ups[name].wsUrl], fingerprint: ups[name].fingerprint! },
    powerValue: 1,
    token: ups[name].agentToken('dual'),
  });
  writeFileSync(
    config,
    JSON.stringify(
      {
        agent: { id: 'dual', group: 'dual', stateDir: join(dualDir, 'state') },
        supplies: [supply('A'), supply('B')],
        minSupplies: 1,
        deadtime: `${AGENT_DEADTIME_S}s`,
        reconnect: { initial: '200ms', max: '1s' },
        shutdown: { dryRun: true, marker: dualMarker, command: ['systemctl', 'poweroff'] },
        log: { level: 'debug' },
      },
      null,
      2,
    ),
  );
  const dual = startAgentProcess(config, join(dualDir, 'dual.log'), lab ? lab.wrap('dual') : []);
  const connected = async (f: RunningFleet) => {
    await waitForAgents(f, 30_000);
    for (;;) {
      const s = await f.getJson<{ agents: Array<{ id: string; connected: boolean; supplies?: unknown }> }>(
        '/status',
      );
      if (s.agents.some((a) => a.id === 'dual' && a.connected && a.supplies)) return;
      if (dual.exitCode !== null) throw new Error(`dual agent exited; see ${dualDir}/dual.log`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await connected(ups.A);
  await connected(ups.B);
  return {
    ups,
    dualMarker,
    dual,
    lab,
    stop: async () => {
      await stopProcesses([dual]);
      await ups.A.stop();
      await ups.B.stop();
      lab?.destroy();
    },
  };
}

async function onBattery(f: RunningFleet, critical: boolean): Promise<void> {
  if (critical) await f.admin('/api/simulate', { name: 'battery.charge', value: '5' });
  await f.admin('/api/simulate', { name: 'ups.status', value: critical ? 'OB DISCHRG LB' : 'OB DISCHRG' });
}

/** The master is lost: unplugged on a test network (its process goes on, unreachable), killed (-9) on loopback. */
async function lose(two: TwoUps, name: Name): Promise<void> {
  if (two.lab) {
    two.lab.unplug(`master${name}`);
    return;
  }
  const m = two.ups[name].master;
  await new Promise<void>((resolve) => {
    m.once('exit', () => resolve());
    m.kill('SIGKILL');
  });
}

const markerOf = (file: string): PowerOffMarker | null =>
  existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PowerOffMarker) : null;
const agentMarker = (f: RunningFleet, id: string) => markerOf(f.agents.find((a) => a.id === id)!.marker);
const dualEntries = (j: Entry[], event: string) => seq(j, event).filter((e) => e.memberId === 'dual');
const runDone = (f: RunningFleet) => () => f.journal().some((e) => e.kind === 'master-poweroff');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('redundant supplies: two masters, two UPSes, one dual-supply host', () => {
  let fleet: TwoUps | undefined;
  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  it("UPS A critical while UPS B is on line: A's agent goes down, the dual host stays up, journaled redundantly fed", async () => {
    fleet = await twoUps(mkdtempSync(join(root, 'a-critical-')));
    const { ups } = fleet;
    await onBattery(ups.A, true);
    await waitUntil("A's run to finish", runDone(ups.A), 40_000);
    await sleep(2_000);
    assert.ok(agentMarker(ups.A, 'a1'), "A's own agent went down");
    assert.equal(markerOf(fleet.dualMarker), null, 'the dual host did not go down');
    assert.equal(agentMarker(ups.B, 'b1'), null);
    const j = ups.A.journal();
    const fed = dualEntries(j, 'redundantly-fed');
    assert.equal(fed.length, 1, 'journaled redundantly fed');
    assert.equal(fed[0]!.step, 2);
    assert.match(String(fed[0]!.detail), /others give 1 of minSupplies 1/);
    assert.equal(dualEntries(j, 'order').length, 0, 'never ordered');
    assert.equal(dualEntries(j, 'down').length, 0, 'not counted as down');
    assert.equal(seq(j, 'step-end').find((e) => e.step === 2)?.endedBy, 'confirmed', 'step 2 not held up');
    const status = await ups.A.getJson<{
      sequence: { steps: Array<{ members: Array<{ id: string; state: string }> }> };
    }>('/status');
    assert.equal(status.sequence.steps[1]!.members.find((m) => m.id === 'dual')?.state, 'redundantly-fed');
  });

  for (const [gone, critical] of [
    ['B', 'A'],
    ['A', 'B'],
  ] as Array<[Name, Name]>) {
    it(`master ${gone} lost while UPS ${gone} is on line, then UPS ${critical} critical: the dual host stays up`, async () => {
      fleet = await twoUps(mkdtempSync(join(root, `${gone}-gone-on-line-`)));
      const { ups } = fleet;
      await lose(fleet, gone);
      await sleep((AGENT_DEADTIME_S + 2) * 1000); // well past the dual agent's deadtime
      await onBattery(ups[critical], true);
      await waitUntil(`${critical}'s run to finish`, runDone(ups[critical]), 40_000);
      await sleep(2_000);
      const own = `${critical.toLowerCase()}1`;
      assert.ok(agentMarker(ups[critical], own), `${own} went down`);
      assert.equal(
        markerOf(fleet.dualMarker),
        null,
        `UPS ${gone}, last seen on line, still feeds the dual host`,
      );
      const j = ups[critical].journal();
      assert.equal(dualEntries(j, 'redundantly-fed').length, 1);
      assert.equal(dualEntries(j, 'order').length, 0);
    });

    it(`master ${gone} lost while UPS ${gone} is on battery, then UPS ${critical} critical: the dual host goes down at ${critical}'s order`, async () => {
      fleet = await twoUps(mkdtempSync(join(root, `${gone}-gone-on-battery-`)));
      const { ups } = fleet;
      await onBattery(ups[gone], false);
      await ups[gone].waitForJournal(
        (j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'),
        10_000,
      );
      await sleep(1_000); // the dual host has seen UPS ${gone} on battery
      await lose(fleet, gone);
      const killedAt = Date.now();
      await onBattery(ups[critical], true);
      await waitUntil('the dual host to go down', () => markerOf(fleet!.dualMarker) !== null, 40_000);
      const marker = markerOf(fleet.dualMarker)!;
      const j = ups[critical].journal();
      const orders = dualEntries(j, 'order');
      assert.equal(orders.length, 1, `${critical} ordered the dual host once`);
      assert.equal(marker.orderId, orders[0]!.orderId, `down at ${critical}'s order, not on its own`);
      assert.ok(
        marker.ts - killedAt >= AGENT_DEADTIME_S * 1000,
        `not before UPS ${gone}'s master was lost for the deadtime (${marker.ts - killedAt} ms)`,
      );
      // while master ${gone} was within its deadtime the host was still fed: redundantly fed first, ordered later
      const fed = dualEntries(j, 'redundantly-fed');
      assert.equal(fed.length, 1);
      assert.ok((fed[0]!.ts as number) < (orders[0]!.ts as number));
      assert.match(String(orders[0]!.detail), /other supplies are lost/);
      await waitUntil(
        'the dual host confirmed down',
        () => dualEntries(ups[critical].journal(), 'down').length > 0,
        20_000,
      );
    });
  }
});
