/**
 * Power that returns before critical, after an early group left: the waker on a ManualClock, wired to the
 * master's real decision core (journal file, policy, sequencer, registry: the decision harness). The lab
 * host answers its order like a dry-run agent and then drops its connection, as a host that powered off.
 * Wake-on-LAN and the wake command are replaced at their seam (the packet itself is tested in
 * magic-packet.test.ts and on real processes in test/fault/wake.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MemberChannel } from '../../../master/fleet/registry.js';
import type { StoredRecord } from '../../../master/journal/journal-line.js';
import { FLEET_SEQUENCE_STARTED, POWER_FAILED_AGAIN } from '../../../master/wake/wake-state.js';
import { Waker } from '../../../master/wake/waker.js';
import { ManualClock } from '../../../shared/clock.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import type { CommandResult } from '../../../shared/exec/run-command.js';
import { silentLogger } from '../../../shared/logger.js';
import { DecisionHarness, MEMBERS } from '../journal/decision-harness.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-wake-'));
after(() => rmSync(root, { recursive: true, force: true }));

const LAB_MAC = '02:00:00:00:1a:b1';
const T0 = 1_700_000_000_000;

function settings(dir: string, wake: Record<string, unknown>) {
  return parseMasterSettings(
    JSON.stringify({
      master: { id: 'm', listen: '127.0.0.1:0', stateDir: 'state', mdns: false },
      ups: { source: { type: 'simulated', script: 'ups.status: OL\n' } },
      policy: { debounce: '5s' },
      groups: {
        lab: { trigger: { onBatteryFor: '30s' }, deadline: '60s', settle: '0s', wake },
      },
      sequence: [
        { groups: ['app'], deadline: '60s', settle: '0s' },
        { groups: ['db'], deadline: '60s', settle: '0s' },
      ],
      shutdown: { dryRun: true, marker: join(dir, 'master.poweroff') },
    }),
    join(dir, 'master.yaml'),
  );
}

const DEFAULT_WAKE = {
  afterOnline: '2m',
  minCharge: 50,
  broadcast: '192.0.2.255:9',
  macs: { lab1: LAB_MAC },
  command: ['ipmitool', 'chassis', 'power', 'on'],
};

/** One master process: the harness plus a waker, with the lab host as a member that powers off. */
class Rig {
  readonly h: DecisionHarness;
  readonly waker: Waker;
  readonly packets: Array<{ mac: string; address: string; port: number; at: number }> = [];
  readonly commands: Array<{ env: Record<string, string>; at: number }> = [];
  private labChannel: MemberChannel | null = null;

  constructor(
    readonly dir: string,
    readonly clock: ManualClock,
    wake: Record<string, unknown> = DEFAULT_WAKE,
  ) {
    this.h = new DecisionHarness(
      settings(dir, wake),
      clock,
      MEMBERS.filter((m) => m.id !== 'lab1'),
    );
    this.h.registry.declare('lab1', 'agent', 'lab');
    this.waker = new Waker({
      clock,
      logger: silentLogger(),
      earlyGroups: this.h.settings.earlyGroups,
      journal: this.h.journal,
      hub: this.h.hub,
      policy: this.h.policy,
      sequencer: this.h.sequencer,
      registry: this.h.registry,
      sendWol: async (mac, target) => {
        this.packets.push({ mac, ...target, at: clock.now() });
      },
      runCommand: async (_cmd, opts) => {
        this.commands.push({ env: opts.env ?? {}, at: clock.now() });
        return {
          exitCode: 0,
          signal: null,
          durationMs: 5,
          timedOut: false,
          stdout: '',
          stderr: '',
          outputTruncated: false,
        } satisfies CommandResult;
      },
    });
  }

  start(): this {
    this.h.start();
    this.waker.start();
    this.h.connectAll();
    return this;
  }

  /** The lab host connects; on its order it acks, reports a dry-run going-down, then powers off (closes). */
  connectLab(): void {
    const channel: MemberChannel = {
      sendOrder: (order) => {
        this.clock.setTimer(500, () => {
          this.h.sequencer.onAck('lab1', order.orderId);
          this.h.sequencer.onGoingDown('lab1', order.orderId, true, 0);
          this.clock.setTimer(500, () => this.h.registry.disconnect('lab1', channel));
        });
      },
    };
    this.labChannel = channel;
    this.h.registry.connect(
      {
        id: 'lab1',
        kind: 'agent',
        group: 'lab',
        version: 't',
        dryRun: true,
        address: '192.0.2.11',
        lastSeen: this.clock.now(),
        mac: null,
      },
      channel,
    );
  }

  get labConnected(): boolean {
    return this.labChannel !== null && this.h.registry.isConnected('lab1');
  }

  async stop(): Promise<void> {
    await this.waker.stop();
    this.h.stop();
  }

  records(kind?: string): StoredRecord[] {
    const all = this.h.records();
    return kind ? all.filter((r) => r.kind === kind) : all;
  }

  earlyStarts(): StoredRecord[] {
    return this.records('sequence').filter((r) => r.event === 'early-start' && r.early === 'lab');
  }
}

/** Mains on, then an outage long enough for the lab group (onBatteryFor 30s) to leave; returns when it is down. */
async function labLeaves(r: Rig): Promise<void> {
  r.connectLab();
  r.h.setStatus('OL', '100');
  await r.h.run(1000);
  r.h.setStatus('OB DISCHRG', '90');
  await r.h.run(40_000);
  assert.equal(r.earlyStarts().length, 1, 'the lab group left on its own trigger');
  assert.equal(r.labConnected, false, 'lab1 powered off');
  assert.equal(r.h.sequencer.view().state, 'idle', 'the fleet is not critical');
}

describe('waking an early group when mains return before critical', () => {
  it('mains back for afterOnline with the charge above minCharge: WoL and the wake command, once each, journaled first', async () => {
    const r = new Rig(mkdtempSync(join(root, 'wake-')), new ManualClock(T0)).start();
    await labLeaves(r);
    r.h.setStatus('OL CHRG', '70');
    const back = r.clock.now();
    await r.h.run(119_000);
    assert.equal(r.packets.length, 0, 'nothing is woken before mains have been back 2 minutes');
    assert.equal(r.commands.length, 0);
    assert.equal(r.waker.view().groups[0]?.phase, 'pending');
    assert.equal(r.waker.view().groups[0]?.waitingFor, 'mains');
    await r.h.run(2000);
    assert.equal(r.packets.length, 1, 'one magic packet');
    assert.deepEqual(
      { mac: r.packets[0]!.mac, address: r.packets[0]!.address, port: r.packets[0]!.port },
      { mac: LAB_MAC, address: '192.0.2.255', port: 9 },
    );
    assert.ok(r.packets[0]!.at >= back + 120_000, 'not before afterOnline');
    assert.equal(r.commands.length, 1, 'the wake command ran once');
    assert.deepEqual(
      {
        agent: r.commands[0]!.env.UPSFLEET_WAKE_AGENT,
        mac: r.commands[0]!.env.UPSFLEET_WAKE_MAC,
        group: r.commands[0]!.env.UPSFLEET_WAKE_GROUP,
        address: r.commands[0]!.env.UPSFLEET_WAKE_ADDRESS,
      },
      { agent: 'lab1', mac: LAB_MAC, group: 'lab', address: '192.0.2.11' },
    );
    // journal: pending, then the decision (before the results), then one result per means
    const all = r.records();
    const pending = all.findIndex((x) => x.kind === 'wake-pending');
    const decision = all.findIndex((x) => x.kind === 'wake');
    const results = all.filter((x) => x.kind === 'wake-result');
    assert.ok(pending >= 0 && decision > pending, 'wake-pending, then wake');
    assert.equal(all[pending]!.dueAt, back + 120_000);
    assert.deepEqual(all[decision]!.hosts, [
      { id: 'lab1', mac: LAB_MAC, address: '192.0.2.11', via: ['wol', 'command'], skipped: null },
    ]);
    assert.deepEqual(results.map((x) => [x.memberId, x.via, x.ok]).sort(), [
      ['lab1', 'command', true],
      ['lab1', 'wol', true],
    ]);
    assert.ok(all.indexOf(results[0]!) > decision, 'results after the decision');
    const view = r.waker.view().groups[0]!;
    assert.equal(view.phase, 'sent');
    assert.equal(view.hosts?.[0]?.results.wol?.ok, true);
    assert.equal(view.hosts?.[0]?.backAt, null);
    // the host boots and its agent connects: shown as back, journaled once
    r.connectLab();
    r.connectLab();
    assert.equal(r.records('wake-back').length, 1);
    assert.equal(typeof r.waker.view().groups[0]!.hosts?.[0]?.backAt, 'number');
    await r.h.run(600_000);
    assert.equal(r.packets.length, 1, 'never woken twice');
    await r.stop();
  });

  it('waits for the charge: due with battery.charge below minCharge, woken once it reaches it', async () => {
    const r = new Rig(mkdtempSync(join(root, 'charge-')), new ManualClock(T0)).start();
    await labLeaves(r);
    r.h.setStatus('OL CHRG', '30');
    await r.h.run(180_000);
    assert.equal(r.packets.length, 0, 'not woken at 30 % (minCharge 50)');
    assert.equal(r.waker.view().groups[0]?.waitingFor, 'charge');
    r.h.setStatus('OL CHRG', '49');
    await r.h.run(1000);
    assert.equal(r.packets.length, 0);
    r.h.setStatus('OL CHRG', '50');
    await r.h.run(1000);
    assert.equal(r.packets.length, 1, 'woken once the charge reached 50 %');
    await r.stop();
  });

  it('power fails again before the wake: nothing is woken, and the group leaves again in the new outage', async () => {
    const r = new Rig(mkdtempSync(join(root, 'again-')), new ManualClock(T0)).start();
    await labLeaves(r);
    r.h.setStatus('OL CHRG', '80');
    await r.h.run(60_000);
    // the lab host is brought back by hand meanwhile (its agent reconnects), then the power fails again
    r.connectLab();
    r.h.setStatus('OB DISCHRG', '75');
    await r.h.run(1000);
    const view = r.waker.view().groups[0]!;
    assert.equal(view.phase, 'cancelled');
    assert.equal(view.reason, POWER_FAILED_AGAIN);
    await r.h.run(120_000);
    assert.equal(r.packets.length + r.commands.length, 0, 'no wake: the timer found the power gone');
    const starts = r.earlyStarts();
    assert.equal(starts.length, 2, 'the early group ran again in the second outage');
    assert.notEqual(starts[0]!.runId, starts[1]!.runId);
    assert.ok(
      r.h.orders.some((o) => o.memberId === 'lab1') ||
        r
          .records('sequence')
          .some((x) => x.event === 'order' && x.memberId === 'lab1' && x.runId === starts[1]!.runId),
      'lab1 ordered down again',
    );
    await r.stop();
  });

  it('a second outage after a wake runs the early group again', async () => {
    const r = new Rig(mkdtempSync(join(root, 'second-')), new ManualClock(T0)).start();
    await labLeaves(r);
    r.h.setStatus('OL CHRG', '80');
    await r.h.run(125_000);
    assert.equal(r.packets.length, 1);
    r.connectLab(); // booted
    await r.h.run(60_000);
    r.h.setStatus('OB DISCHRG', '80');
    await r.h.run(40_000);
    const starts = r.earlyStarts();
    assert.equal(starts.length, 2, 'the lab group left again');
    assert.equal(r.labConnected, false, 'lab1 powered off again');
    r.h.setStatus('OL CHRG', '80');
    await r.h.run(125_000);
    assert.equal(r.packets.length, 2, 'and is woken again after the second outage');
    await r.stop();
  });

  it('critical after the group left: no wake (killpower power-cycles everyone)', async () => {
    const r = new Rig(mkdtempSync(join(root, 'critical-')), new ManualClock(T0)).start();
    await labLeaves(r);
    r.h.setStatus('OB DISCHRG LB', '8');
    await r.h.run(30_000);
    assert.notEqual(r.h.sequencer.view().state, 'idle', 'the fleet sequence started');
    r.h.setStatus('OL CHRG', '80');
    await r.h.run(600_000);
    assert.equal(r.packets.length + r.commands.length, 0);
    const view = r.waker.view().groups[0]!;
    assert.equal(view.phase, 'skipped');
    assert.equal(view.reason, FLEET_SEQUENCE_STARTED);
    assert.equal(r.records('wake').length, 0);
    await r.stop();
  });

  it('a restart while the wake is pending keeps its due time; a restart after it does not wake twice', async () => {
    const dir = mkdtempSync(join(root, 'restart-'));
    const clock1 = new ManualClock(T0);
    const r1 = new Rig(dir, clock1).start();
    await labLeaves(r1);
    r1.h.setStatus('OL CHRG', '80');
    const dueAt = clock1.now() + 120_000;
    await r1.h.run(60_000);
    await r1.stop(); // the master dies half-way through the wait

    const clock2 = new ManualClock(clock1.now() + 10_000);
    const r2 = new Rig(dir, clock2).start();
    assert.equal(r2.waker.view().groups[0]?.phase, 'pending', 'the pending wake was not forgotten');
    r2.h.setStatus('OL CHRG', '80');
    await r2.h.run(dueAt - clock2.now() - 1000);
    assert.equal(r2.packets.length, 0, 'not before its original due time');
    await r2.h.run(2000);
    assert.equal(r2.packets.length, 1, 'woken at its original due time, not afterOnline after the restart');
    await r2.stop();

    const clock3 = new ManualClock(clock2.now() + 5000);
    const r3 = new Rig(dir, clock3).start();
    r3.h.setStatus('OL CHRG', '90');
    await r3.h.run(600_000);
    assert.equal(r3.packets.length + r3.commands.length, 0, 'replaying the journal wakes nobody again');
    assert.equal(r3.waker.view().groups[0]?.phase, 'sent');
    assert.equal(r3.h.records().filter((x) => x.kind === 'wake').length, 1);
    assert.equal(r3.h.sequencer.view().early[0]?.state, 'waiting', 'the woken group can leave again');
    await r3.stop();
  });

  it('a host connected again before the wake is not woken; one without MAC gets the command only', async () => {
    const r = new Rig(mkdtempSync(join(root, 'nomac-')), new ManualClock(T0), {
      afterOnline: '1m',
      command: 'true',
    }).start();
    await labLeaves(r);
    r.h.setStatus('OL', '100');
    await r.h.run(61_000);
    assert.equal(r.packets.length, 0, 'no MAC known: no magic packet');
    assert.equal(r.commands.length, 1);
    assert.deepEqual(r.records('wake')[0]!.hosts, [
      { id: 'lab1', mac: null, address: '192.0.2.11', via: ['command'], skipped: null },
    ]);
    await r.stop();

    const r2 = new Rig(mkdtempSync(join(root, 'back-')), new ManualClock(T0)).start();
    await labLeaves(r2);
    r2.h.setStatus('OL', '100');
    await r2.h.run(30_000);
    r2.connectLab();
    await r2.h.run(100_000);
    assert.equal(r2.packets.length + r2.commands.length, 0);
    assert.equal(Array.isArray(r2.records('wake')[0]!.hosts), true);
    assert.equal(
      (r2.records('wake')[0]!.hosts as Array<{ skipped: string }>)[0]!.skipped,
      'connected again before the wake',
    );
    await r2.stop();
  });
});
