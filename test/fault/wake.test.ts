/**
 * Power that returns before critical, after an early group left, on real processes (issue 10, item 5).
 *
 * On a test network (net-lab.ts: a namespace per host on a bridge; needs root): the lab host's agent
 * announces the MAC of its own eth0 in hello, the lab group leaves on its own trigger (dry-run marker),
 * the host "powers off" (its agent stops), mains return, and once they have been back for afterOnline the
 * master broadcasts a real magic packet on the bridge, captured by the test with that MAC, and runs the
 * group's wake command (its marker carries the agent, MAC and group). The journal has the decision before
 * its results, /status shows who was woken, how and the result, and the host shows as back when its
 * agent connects again. Nobody else went down, no killpower.
 *
 * On loopback: power that fails again before afterOnline wakes nobody, and the group leaves again.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  launchFleet,
  type RunningFleet,
  stopProcesses,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import { magicPacket } from '../../master/wake/magic-packet.js';
import type { WakeView } from '../../master/wake/waker.js';
import { type Entry, faultFleet, marker, onBattery, seq, upsCommands, waitUntil } from './fault-fleet.js';
import { createNetLab, type NetLab, netLabSkipReason } from './net-lab.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-wake-'));
after(() => rmSync(root, { recursive: true, force: true }));

const CLI_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** A UDP listener that keeps every datagram it receives. */
async function capture(address: string): Promise<{ socket: Socket; port: number; got: Buffer[] }> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const got: Buffer[] = [];
  socket.on('message', (msg) => got.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return { socket, port: (socket.address() as AddressInfo).port, got };
}

async function wakeView(fleet: RunningFleet): Promise<WakeView['groups'][number] | undefined> {
  const status = await fleet.getJson<{ wake: WakeView }>('/status');
  return status.wake.groups.find((g) => g.group === 'lab');
}

/** The wake command: one marker per host, with what the master put in its environment. */
function wakeCommand(dir: string): string {
  return `printf '%s %s %s\\n' "$UPSFLEET_WAKE_AGENT" "$UPSFLEET_WAKE_MAC" "$UPSFLEET_WAKE_GROUP" > '${dir}/markers/woken-'"$UPSFLEET_WAKE_AGENT"`;
}

const wakeRecords = (j: Entry[]) => j.filter((e) => typeof e.kind === 'string' && e.kind.startsWith('wake'));

describe('power that returns before critical after an early group left', () => {
  let stopAll: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const s of stopAll.reverse()) await s();
    stopAll = [];
  });

  const skip = netLabSkipReason();
  it('on a test network: a real magic packet with the MAC the agent announced, the wake command, the host back', {
    skip: skip ?? false,
  }, async () => {
    const dir = mkdtempSync(join(root, 'net-'));
    const lab: NetLab = createNetLab(['master', 'app1', 'db1', 'lab1']);
    stopAll.push(() => lab.destroy());
    // the test's ear on the bridge: a socket in the root namespace, which is plugged into it
    const ear = await capture('0.0.0.0');
    stopAll.push(() => {
      ear.socket.close();
    });
    const labMac = JSON.parse(
      execFileSync('ip', ['-j', '-n', lab.namespace('lab1'), 'link', 'show', 'eth0'], { encoding: 'utf8' }),
    )[0].address as string;

    const fleet = await launchFleet({
      dir,
      groups: [
        { name: 'lab', agents: ['lab1'] },
        { name: 'app', agents: ['app1'] },
        { name: 'db', agents: ['db1'] },
      ],
      sequence: [
        { groups: ['app'], deadline: '20s', settle: '0s' },
        { groups: ['db'], deadline: '20s', settle: '0s' },
      ],
      timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
      debounce: '1s',
      fixedPort: true,
      masterHost: lab.address('master'),
      wrap: (who) => lab.wrap(who),
      masterExtra: {
        ups: { name: 'ups', source: { type: 'simulated', timeline: 'outage.seq', persist: true } },
        groups: {
          lab: {
            trigger: { onBatteryFor: '3s' },
            deadline: '20s',
            settle: '0s',
            wake: {
              afterOnline: '4s',
              minCharge: 50,
              broadcast: `${lab.broadcast}:${ear.port}`,
              command: wakeCommand(dir),
            },
          },
        },
      },
    });
    stopAll.push(() => fleet.stop());
    await waitForAgents(fleet, 60_000);
    const agents = await fleet.getJson<{ agents: Array<{ id: string; mac?: string | null }> }>('/status');
    assert.equal(
      agents.agents.find((a) => a.id === 'lab1')?.mac,
      labMac,
      'the agent announced the MAC of the interface that carries its master connection',
    );

    await onBattery(fleet);
    await fleet.waitForJournal((j) => seq(j, 'early-end').length > 0, 30_000);
    assert.ok(marker(fleet, 'lab1'), 'the lab group left on its own trigger (dry-run marker)');
    // the host powers off: its agent stops
    const labAgent = fleet.agents.find((a) => a.id === 'lab1')!;
    await stopProcesses([labAgent.process]);

    await fleet.admin('/api/simulate', { name: 'battery.charge', value: '80' });
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OL CHRG' });
    const back = Date.now();
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'wake-pending'), 10_000);
    assert.equal((await wakeView(fleet))?.phase, 'pending', '/status: the wake is pending');
    assert.equal(ear.got.length, 0, 'nothing sent before mains have been back afterOnline');

    await waitUntil('the magic packet on the bridge', () => ear.got.length > 0, 20_000);
    assert.ok(Date.now() - back >= 3500, 'the packet came after afterOnline (4s)');
    assert.deepEqual(ear.got[0], magicPacket(labMac), `a magic packet for ${labMac}`);
    const woken = join(dir, 'markers', 'woken-lab1');
    await waitUntil('the wake command marker', () => existsSync(woken), 20_000);
    assert.equal(readFileSync(woken, 'utf8').trim(), `lab1 ${labMac} lab`);

    await fleet.waitForJournal((j) => j.filter((e) => e.kind === 'wake-result').length === 2, 20_000);
    const j = fleet.journal();
    const decision = j.findIndex((e) => e.kind === 'wake');
    assert.ok(decision > j.findIndex((e) => e.kind === 'wake-pending'));
    assert.ok(
      j.every((e, i) => e.kind !== 'wake-result' || i > decision),
      'the decision is journaled before any result',
    );
    assert.deepEqual(j[decision]!.hosts, [
      { id: 'lab1', mac: labMac, address: lab.address('lab1'), via: ['wol', 'command'], skipped: null },
    ]);
    const view = await wakeView(fleet);
    assert.equal(view?.phase, 'sent');
    assert.equal(view?.hosts?.[0]?.results.wol?.ok, true);
    assert.equal(view?.hosts?.[0]?.results.command?.ok, true);
    assert.equal(view?.hosts?.[0]?.backAt, null);

    // the host boots: its agent connects again and is shown back
    const log = createWriteStream(join(dir, 'logs', 'lab1-again.log'));
    const again: ChildProcess = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.namespace('lab1'),
        process.execPath,
        '--import',
        'tsx',
        CLI_MAIN,
        'agent',
        '-c',
        labAgent.config,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    again.stdout?.pipe(log);
    again.stderr?.pipe(log);
    stopAll.push(() => stopProcesses([again]));
    await fleet.waitForJournal(
      (jj) => jj.some((e) => e.kind === 'wake-back' && e.memberId === 'lab1'),
      30_000,
    );
    assert.equal(typeof (await wakeView(fleet))?.hosts?.[0]?.backAt, 'number', '/status: lab1 is back');

    assert.equal(ear.got.length, 1, 'one magic packet only');
    assert.equal(marker(fleet, 'app1'), null, 'nobody else went down');
    assert.equal(marker(fleet, 'db1'), null);
    assert.equal(upsCommands(fleet).length, 0, 'no killpower');
    assert.equal(seq(fleet.journal(), 'sequence-start').length, 0, 'the fleet sequence never started');
  });

  it('on loopback: power fails again before afterOnline: nothing is woken and the group leaves again', async () => {
    const dir = mkdtempSync(join(root, 'again-'));
    const ear = await capture('127.0.0.1');
    stopAll.push(() => {
      ear.socket.close();
    });
    const fleet = await faultFleet({
      dir,
      early: {
        lab: {
          trigger: { onBatteryFor: '3s' },
          agents: ['lab1'],
          wake: {
            afterOnline: '6s',
            broadcast: `127.0.0.1:${ear.port}`,
            macs: { lab1: '02:00:00:00:1a:b1' },
            command: wakeCommand(dir),
          },
        },
      },
    });
    stopAll.push(() => fleet.stop());
    await onBattery(fleet);
    await fleet.waitForJournal((j) => seq(j, 'early-end').length === 1, 30_000);
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OL' });
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'wake-pending'), 10_000);
    await new Promise((r) => setTimeout(r, 2000));
    await onBattery(fleet);
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal(ear.got.length, 0, 'no magic packet');
    assert.equal(existsSync(join(dir, 'markers', 'woken-lab1')), false, 'no wake command');
    const j = fleet.journal();
    assert.equal(j.filter((e) => e.kind === 'wake').length, 0, 'no wake decision');
    const view = await wakeView(fleet);
    assert.equal(view?.phase, 'cancelled');
    assert.equal(view?.reason, 'power failed again before the wake');
    const starts = seq(j, 'early-start').filter((e) => e.early === 'lab');
    assert.equal(starts.length, 2, 'the lab group left again in the new outage');
    assert.notEqual(starts[0]!.runId, starts[1]!.runId);
    assert.ok(
      seq(j, 'order').some((e) => e.memberId === 'lab1' && e.runId === starts[1]!.runId),
      'lab1 ordered again',
    );
    assert.deepEqual(
      wakeRecords(j).map((e) => e.kind),
      ['wake-pending'],
    );
  });
});
