/**
 * The SSH target's confirmation rule on an injected clock: the watch confirms only after the port stayed
 * unreachable without a break for `unreachableFor`; a target inside the real Sequencer is ordered, acks,
 * goes down and is confirmed by unreachability, or is cut short at the deadline with the reason (a failed
 * command, a host that keeps answering, a refused host key), and a drill measures without confirming a
 * real power-off. SSH itself is a scripted connector here (test/unit/ssh/ssh-client.test.ts and
 * test/hosts/ssh-targets.test.ts cover the real protocol).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import type { StoredRecord } from '../../../master/journal/journal-line.js';
import { emptyRecoveredState, reduceRecovered } from '../../../master/journal/recovery.js';
import type { TimelineEntry } from '../../../master/sequencer/sequence-view.js';
import { Sequencer } from '../../../master/sequencer/sequencer.js';
import type { ExecResult, SshConnection, SshConnector } from '../../../master/ssh/ssh-client.js';
import { SshTargets } from '../../../master/ssh/ssh-targets.js';
import { type ProbeResult, UnreachableWatch } from '../../../master/ssh/unreachable-watch.js';
import { ManualClock } from '../../../shared/clock.js';
import type { SshTargetSpec } from '../../../shared/config/ssh-target-settings.js';
import { UpsfleetError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** Moves the clock in small steps, letting the probes' promises settle in between. */
async function run(clock: ManualClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

describe('UnreachableWatch', () => {
  it('confirms after unreachableFor without a break; one answer starts the count again', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    // seconds 0-2 open, 3-5 refused, 6 open (a reboot), then refused/timeout for good
    const script = (s: number): ProbeResult =>
      s <= 2 || s === 6 ? 'open' : s % 2 === 0 ? 'timeout' : 'refused';
    const confirmed: Array<{ since: number; at: number }> = [];
    const answered: number[] = [];
    const watch = new UnreachableWatch({
      clock,
      intervalMs: 1000,
      unreachableForMs: 5000,
      probe: async () => script(Math.round((clock.now() - t0) / 1000)),
      onConfirmed: (since, at) => confirmed.push({ since: since - t0, at: at - t0 }),
      onAnswered: (at) => answered.push(at - t0),
    });
    watch.start();
    await flush();
    await run(clock, 10_500);
    assert.deepEqual(confirmed, [], 'only 4.5 s unreachable since the answer at 6 s');
    assert.deepEqual(answered, [0, 1000, 2000, 6000]);
    assert.equal(watch.view().unreachableSince, t0 + 7000);
    await run(clock, 2000);
    assert.deepEqual(confirmed, [{ since: 7000, at: 12_000 }]);
    const probes = watch.view().probes;
    await run(clock, 5000);
    assert.equal(watch.view().probes, probes, 'no probe after the confirmation');
    assert.equal(confirmed.length, 1);
  });

  it('a stopped watch never confirms', async () => {
    const clock = new ManualClock();
    let confirmed = false;
    const watch = new UnreachableWatch({
      clock,
      intervalMs: 1000,
      unreachableForMs: 3000,
      probe: async () => 'refused',
      onConfirmed: () => {
        confirmed = true;
      },
    });
    watch.start();
    await run(clock, 2000);
    watch.stop();
    await run(clock, 5000);
    assert.equal(confirmed, false);
  });
});

interface Host {
  /** What the SSH server does at login. */
  login: 'ok' | 'host-key' | 'refused';
  /** What each command does. */
  exec: (command: string) => Partial<ExecResult>;
  /** The SSH port as a TCP connect sees it. */
  port: () => ProbeResult;
  ran: string[];
}

function scriptedConnector(hosts: Record<string, Host>): SshConnector {
  return async (target) => {
    const h = hosts[target.id]!;
    if (h.login === 'host-key')
      throw new UpsfleetError(
        'SSH_HOST_KEY_MISMATCH',
        `${target.id}: showed SHA256:seen, but ${target.hostKey.fingerprint} is pinned`,
      );
    if (h.login === 'refused') throw new UpsfleetError('SSH_UNREACHABLE', `${target.id}: ECONNREFUSED`);
    const conn: SshConnection = {
      hostKey: { fingerprint: target.hostKey.fingerprint, type: 'ssh-ed25519' },
      close: () => {},
      exec: async (command, onStarted) => {
        h.ran.push(command);
        onStarted?.();
        return {
          code: 0,
          signal: null,
          dropped: false,
          stdout: '',
          stderr: '',
          durationMs: 40,
          ...h.exec(command),
        };
      },
    };
    return conn;
  };
}

function spec(id: string, group: string): SshTargetSpec {
  return {
    id,
    group,
    host: `${id}.lan`,
    port: 22,
    user: 'upsfleet',
    keyFile: '/nonexistent',
    hostKey: { fingerprint: `SHA256:${'A'.repeat(43)}`, type: null, text: '' },
    command: 'sudo -n systemctl poweroff',
    drillCommand: 'true',
    unreachableForMs: 5000,
    probeIntervalMs: 60_000,
    connectTimeoutMs: 1000,
  };
}

function setup(hosts: Record<string, Host>, deadlineMs = 30_000, clock = new ManualClock()) {
  const t0 = clock.now();
  const registry = new FleetRegistry();
  const logger = silentLogger();
  const ids = Object.keys(hosts);
  const sequencer = new Sequencer({
    clock,
    logger,
    masterId: 'm1',
    steps: ids.map((id, i) => ({ index: i + 1, groups: [`g-${id}`], deadlineMs, settleMs: 0 })),
    earlyGroups: [],
    registry,
    finalStep: async () => {},
  });
  const timeline: TimelineEntry[] = [];
  sequencer.subscribe({ timeline: (e) => timeline.push({ ...e, ts: e.ts - t0 }) });
  const targets = new SshTargets({
    targets: ids.map((id) => spec(id, `g-${id}`)),
    clock,
    logger,
    registry,
    connector: scriptedConnector(hosts),
    tcpProbe: async (host) => hosts[host.replace(/\.lan$/, '')]!.port(),
    feedback: {
      ack: (id, orderId) => sequencer.onAck(id, orderId),
      progress: (id, msg) => sequencer.onProgress(id, msg),
      goingDown: (id, orderId, dryRun, failures) => sequencer.onGoingDown(id, orderId, dryRun, failures),
      drillReport: (id, orderId, hooks) => sequencer.onDrillReport(id, { orderId, hooks }),
      gone: (id, orderId, detail) => sequencer.onGone(id, orderId, detail),
    },
  });
  sequencer.subscribe(targets);
  const entries = (id: string) => timeline.filter((e) => e.memberId === id).map((e) => e.kind);
  const member = (id: string) =>
    sequencer
      .view()
      .steps.flatMap((s) => s.members)
      .find((m) => m.id === id);
  return { clock, t0, registry, sequencer, timeline, targets, entries, member };
}

const host = (over: Partial<Host> = {}): Host => ({
  login: 'ok',
  exec: () => ({}),
  port: () => 'open',
  ran: [],
  ...over,
});

describe('SSH target in the sequence (injected clock)', () => {
  it('ordered in its step, accepted, confirmed down once unreachable for 5 s; the next step only then', async () => {
    let off1 = false;
    let off2 = false;
    const hosts = {
      nas1: host({
        exec: () => {
          off1 = true;
          return { code: 0 };
        },
        port: () => (off1 ? 'refused' : 'open'),
      }),
      // the second one's sshd dies before the exit status: the session drops
      nas2: host({
        exec: () => {
          off2 = true;
          return { code: null, dropped: true };
        },
        port: () => (off2 ? 'timeout' : 'open'),
      }),
    };
    const f = setup(hosts);
    f.targets.start();
    await flush();
    assert.ok(f.registry.isConnected('nas1') && f.registry.isConnected('nas2'));
    assert.equal(f.registry.get('nas1')?.kind, 'ssh');
    f.sequencer.start('test');
    await flush();
    assert.deepEqual(hosts.nas1.ran, ['sudo -n systemctl poweroff']);
    assert.deepEqual(hosts.nas2.ran, [], 'step 2 waits for step 1');
    assert.deepEqual(f.entries('nas1'), ['order', 'ack', 'progress', 'progress', 'going-down']);
    await run(f.clock, 4900);
    assert.equal(f.member('nas1')?.state, 'going-down');
    await run(f.clock, 300);
    assert.equal(f.member('nas1')?.state, 'down');
    const down1 = f.timeline.find((e) => e.kind === 'down' && e.memberId === 'nas1')!;
    assert.equal(down1.detail, 'port 22 unreachable for 5s');
    assert.ok(down1.ts >= 5000 && down1.ts <= 5300, String(down1.ts));
    assert.equal(f.registry.isConnected('nas1'), false);
    await flush();
    assert.deepEqual(hosts.nas2.ran, ['sudo -n systemctl poweroff']);
    await run(f.clock, 5500);
    assert.equal(f.member('nas2')?.state, 'down');
    const ends = f.timeline.filter((e) => e.kind === 'step-end').map((e) => e.endedBy);
    assert.deepEqual(ends, ['confirmed', 'confirmed']);
    // each command ran once: a confirmed target is never ordered again
    await run(f.clock, 70_000, 1000);
    assert.equal(hosts.nas1.ran.length + hosts.nas2.ran.length, 2);
  });

  it('a master restarted after the command was accepted: the watch resumes, the command never runs again', async () => {
    let off = false;
    let portOpenUntil = 0;
    // the clock of the process that is running now
    let clock = new ManualClock();
    const hosts = {
      // it powers off slowly: its port still answers for a while after the restart
      nas1: host({
        exec: () => {
          off = true;
          return { code: 0 };
        },
        port: () => (off && clock.now() >= portOpenUntil ? 'refused' : 'open'),
      }),
      nas2: host({ exec: () => ({ code: 0 }), port: () => 'open' }),
    };
    const first = setup(hosts, 30_000, clock);
    const journal: StoredRecord[] = [];
    first.sequencer.subscribe({
      timeline: (e) => void journal.push({ ...e, kind: 'sequence', event: e.kind, seq: journal.length + 1 }),
    });
    first.targets.start();
    await flush();
    first.sequencer.start('test');
    await flush();
    assert.deepEqual(first.entries('nas1'), ['order', 'ack', 'progress', 'progress', 'going-down']);
    // the master dies 2 s after the command was accepted, before the 5 s of silence that confirm it
    await run(first.clock, 2000);
    first.targets.stop();
    first.sequencer.stop();
    const acceptedAt = journal.find((r) => r.event === 'going-down')!.ts;

    clock = new ManualClock(first.clock.now() + 1000);
    portOpenUntil = clock.now() + 3000;
    const second = setup(hosts, 30_000, clock);
    const tick = (ms: number) => run(second.clock, ms);
    second.sequencer.resume(journal.reduce(reduceRecovered, emptyRecoveredState()));
    second.targets.start(second.sequencer.view());
    await flush();
    assert.equal(second.targets.view('nas1')?.order?.phase, 'confirming');
    assert.equal(second.targets.view('nas1')?.order?.acceptedAt, acceptedAt);
    await tick(7000);
    assert.deepEqual(hosts.nas1.ran, ['sudo -n systemctl poweroff'], 'not run a second time');
    assert.equal(second.member('nas1')?.state, 'going-down', 'its port answered until 3 s after the restart');
    await tick(1500);
    assert.equal(second.member('nas1')?.state, 'down');
    const down = second.timeline.find((e) => e.kind === 'down' && e.memberId === 'nas1')!;
    assert.equal(down.detail, 'port 22 unreachable for 5s');
    assert.deepEqual(
      second.timeline.filter((e) => e.kind === 'step-end').map((e) => e.endedBy),
      ['confirmed'],
    );
    assert.ok(!second.timeline.some((e) => e.kind === 'resend' && e.memberId === 'nas1'));
    await flush();
    assert.deepEqual(hosts.nas2.ran, ['sudo -n systemctl poweroff'], 'the next step went on');
    second.targets.stop();
    second.sequencer.stop();
  });

  it('a failed command and a host that keeps answering are cut short at the deadline, with why', async () => {
    const hosts = {
      nosudo: host({ exec: () => ({ code: 1, stderr: 'sudo: a password is required\n' }) }),
      stays: host(),
    };
    const f = setup(hosts, 20_000);
    f.targets.start();
    await flush();
    f.sequencer.start('test');
    await run(f.clock, 20_100);
    const cut1 = f.timeline.find((e) => e.kind === 'deadline' && e.memberId === 'nosudo')!;
    assert.equal(cut1.detail, 'acked');
    assert.equal(cut1.why, 'command `sudo -n systemctl poweroff` exited 1: sudo: a password is required');
    assert.equal(f.member('nosudo')?.cutShortWhy, cut1.why);
    const failed = f.timeline.find(
      (e) => e.kind === 'progress' && e.memberId === 'nosudo' && e.detail?.endsWith('failed'),
    );
    assert.ok(failed, 'the failure is journaled when it happens');
    await run(f.clock, 20_100);
    const cut2 = f.timeline.find((e) => e.kind === 'deadline' && e.memberId === 'stays')!;
    assert.equal(cut2.detail, 'going-down');
    assert.match(cut2.why ?? '', /^command accepted at \d\d:\d\d:\d\d, but port 22 still answers \(last at/);
    assert.deepEqual(
      f.timeline.filter((e) => e.kind === 'step-end').map((e) => e.endedBy),
      ['deadline', 'deadline'],
    );
    assert.equal(hosts.nosudo.ran.length, 1, 'a failed command is not run again for the same order');
  });

  it('a refused host key: never connected, offline at its step, retried, cut short with the code', async () => {
    const hosts = { wrongkey: host({ login: 'host-key' }) };
    const f = setup(hosts, 10_000);
    f.targets.start();
    await flush();
    assert.equal(f.registry.isConnected('wrongkey'), false);
    assert.match(f.registry.get('wrongkey')?.problem ?? '', /^SSH_HOST_KEY_MISMATCH: /);
    f.sequencer.start('test');
    await run(f.clock, 10_100);
    const cut = f.timeline.find((e) => e.kind === 'deadline' && e.memberId === 'wrongkey')!;
    assert.equal(cut.detail, 'offline');
    assert.match(cut.why ?? '', /SSH_HOST_KEY_MISMATCH: wrongkey: showed SHA256:seen/);
    assert.deepEqual(hosts.wrongkey.ran, []);
    const probes = f.targets.view('wrongkey')!.lastProbe!;
    assert.ok(probes.at - f.t0 >= 8000, 'probed again every 2 s while its step waited');
  });

  it('a target unreachable when its step begins is ordered as soon as it answers', async () => {
    const hosts = { late: host({ login: 'refused' }) };
    let off = false;
    hosts.late.exec = () => {
      off = true;
      return {};
    };
    hosts.late.port = () => (off ? 'refused' : 'open');
    const f = setup(hosts, 30_000);
    f.targets.start();
    await flush();
    f.sequencer.start('test');
    await run(f.clock, 3000);
    assert.deepEqual(f.entries('late'), ['offline']);
    hosts.late.login = 'ok';
    await run(f.clock, 2500);
    assert.deepEqual(hosts.late.ran, ['sudo -n systemctl poweroff']);
    await run(f.clock, 6000);
    assert.equal(f.member('late')?.state, 'down');
  });

  it('a drill runs the drill command, measures it and reports a dry-run going-down', async () => {
    const hosts = { nas1: host({ exec: (c) => (c === 'true' ? { durationMs: 25 } : { code: 99 }) }) };
    const f = setup(hosts);
    f.targets.start();
    await flush();
    f.sequencer.start('drill', { drill: true });
    await run(f.clock, 1000);
    assert.deepEqual(hosts.nas1.ran, ['true']);
    const m = f.member('nas1')!;
    assert.equal(m.state, 'down');
    assert.equal(m.dryRun, true);
    assert.deepEqual(m.drillReport, [{ name: 'drill: true', status: 'ok', durationMs: 25 }]);
    assert.equal(f.registry.isConnected('nas1'), true, 'still up: nothing was powered off');
    assert.equal(f.sequencer.view().state, 'done');
  });
});
