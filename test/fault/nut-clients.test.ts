/**
 * Stock NUT clients on a bad network, with the REAL upsmon (Debian's nut-client) against the real master
 * process (issue 10, "confirmation is only what the member did"):
 * - a upsmon frozen (SIGSTOP) right after it receives FSD at its step, its TCP connection silent: the
 *   master's idle timer does not count it down; its step ends cut short at the deadline and killpower
 *   comes only then; woken up later (SIGCONT) it shuts down, journaled as late-down;
 * - NUT users with a group are known in advance: one whose upsmon is not running when its step comes is
 *   waited for as offline (journaled); started during the step it sees FSD at once, shuts down, and its
 *   logout confirms it; another started only after the step's deadline still sees FSD at once and shuts
 *   down (late-order / late-down).
 * Asserted from upsmon's SHUTDOWNCMD markers and the master's journal. upsmon's SHUTDOWNCMD only writes
 * a marker; agents and the master are dry-run. Only the processes this file starts are signalled, by pid.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type FleetSpec,
  launchFleet,
  type RunningFleet,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import { NutSandbox, nutMissing, type SandboxProcess, waitFor } from '../interop/nut-sandbox.js';
import { createNetLab, type NetLab, netLabSkipReason } from './net-lab.js';

const skip = nutMissing(['upsmon']);
/**
 * Where the machine allows (root, iproute2), the master, app1 and each upsmon are hosts of their own on a
 * test network (net-lab.ts), the freezing relay standing between them like a switch; on 127.0.0.1 otherwise.
 */
const onNetwork = netLabSkipReason() === null;
const labFor = (hosts: string[]) => (onNetwork ? createNetLab(['master', 'app1', ...hosts]) : null);

type Entry = Record<string, unknown>;

/** The master's NUT listener, from the master.json it writes once it listens (port 0 picks a free one). */
function nutAddressOf(fleet: RunningFleet): string {
  const info = JSON.parse(readFileSync(join(fleet.dir, 'master', 'state', 'master.json'), 'utf8')) as {
    nut?: string;
  };
  assert.ok(info.nut, 'master.json has no nut address');
  return info.nut;
}

/** The NUT members /status shows. */
async function nutMembers(
  fleet: RunningFleet,
): Promise<Array<{ id: string; group: string; connected: boolean }>> {
  const s = await fleet.getJson<{
    agents: Array<{ id: string; kind: string; group: string; connected: boolean }>;
  }>('/status');
  return s.agents.filter((a) => a.kind === 'nut');
}

const seqEntries = (journal: Entry[], event: string, memberId?: string) =>
  journal.filter(
    (e) => e.kind === 'sequence' && e.event === event && (memberId === undefined || e.memberId === memberId),
  );
const one = (journal: Entry[], event: string, memberId?: string, step?: number): Entry => {
  const found = seqEntries(journal, event, memberId).filter((e) => step === undefined || e.step === step);
  assert.equal(
    found.length,
    1,
    `expected one ${event} entry for ${memberId ?? 'the run'}${step ? ` at step ${step}` : ''}, got ${found.length}`,
  );
  return found[0]!;
};
const ts = (e: Entry) => e.ts as number;
const killpowerOf = (journal: Entry[]) =>
  journal.find((e) => e.kind === 'killpower-sending' || e.kind === 'killpower');

/** A fleet: app1 (agent) at step 1, then the NUT group nas at step 2; the UPS is on line until the test says. */
function spec(
  dir: string,
  users: string[],
  nasDeadline: string,
  extraNut: Record<string, unknown> = {},
  lab: NetLab | null = null,
): FleetSpec {
  // on a test network the master and app1 are hosts of their own (TLS: plain ws:// is refused off loopback)
  const onLab: Partial<FleetSpec> = lab
    ? { masterHost: lab.address('master'), wrap: (who: string) => lab.wrap(who) }
    : { insecure: true };
  return {
    ...onLab,
    dir,
    groups: [{ name: 'app', agents: ['app1'] }],
    sequence: [
      { groups: ['app'], deadline: '20s', settle: '0s' },
      { groups: ['nas'], deadline: nasDeadline, settle: '0s' },
    ],
    timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
    speed: 1,
    debounce: '500ms',
    masterExtra: {
      nut: {
        listen: `${lab ? lab.address('master') : '127.0.0.1'}:0`,
        users: users.map((name) => ({ name, password: `${name}-pass`, upsmon: 'secondary', group: 'nas' })),
        ...extraNut,
      },
    },
  } as FleetSpec;
}

async function critical(fleet: RunningFleet): Promise<void> {
  await fleet.admin('/api/simulate', { name: 'battery.charge', value: '5' });
  await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OB DISCHRG LB' });
}

/**
 * A relay between a upsmon and the master (like a switch on the path) that freezes the upsmon (SIGSTOP,
 * by its pid) the moment the first ups.status carrying FSD comes back from the master, before passing it
 * on: the upsmon has received FSD and never acts on it, and its connection to the master goes silent. It
 * refuses STARTTLS on the master's behalf so that it can read the replies.
 */
async function freezingRelay(
  target: string,
  freeze: () => void,
  listenHost = '127.0.0.1',
): Promise<{ address: string; server: Server; frozenAt: () => number | null }> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  let frozenAt: number | null = null;
  const server = createServer((client) => {
    const upstream = connect(port, host);
    upstream.on('data', (chunk: Buffer) => {
      if (frozenAt === null && /ups\.status "[^"]*\bFSD\b/.test(chunk.toString('utf8'))) {
        freeze();
        frozenAt = Date.now();
      }
      client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => {
      // off loopback upsmon asks for STARTTLS, and the relay could not read the FSD inside TLS: it
      // answers for the master that TLS is not configured, and upsmon carries on in clear
      if (/^STARTTLS\r?\n$/.test(chunk.toString('utf8'))) {
        client.write('ERR FEATURE-NOT-CONFIGURED\n');
        return;
      }
      upstream.write(chunk);
    });
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const a = server.address();
  const relayPort = typeof a === 'object' && a ? a.port : 0;
  return { address: `${listenHost}:${relayPort}`, server, frozenAt: () => frozenAt };
}

function diagnostics(fleet: RunningFleet | undefined, sandboxes: NutSandbox[]): string {
  const journal = fleet
    ? fleet
        .journal()
        .map((e) => JSON.stringify(e))
        .join('\n')
    : '';
  return `\n----- journal -----\n${journal}\n${sandboxes.map((s) => s.logs()).join('\n')}`;
}

describe('stock NUT clients: confirmation is only what the client did (real upsmon)', { skip }, () => {
  test('a upsmon frozen right after it receives FSD: cut short at the deadline (not down), killpower only after it', {
    timeout: 120_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-nut-frozen-'));
    const sb = new NutSandbox();
    let fleet: RunningFleet | undefined;
    let upsmon: SandboxProcess | undefined;
    let relay: Server | undefined;
    const lab = labFor(['nas']);
    t.after(async () => {
      // a stopped process is continued before it is stopped for good (only the one this test started)
      if (upsmon?.child.pid && upsmon.child.exitCode === null && upsmon.child.signalCode === null) {
        try {
          process.kill(upsmon.child.pid, 'SIGCONT');
        } catch {
          // exited meanwhile
        }
      }
      await sb.stop();
      relay?.close();
      await fleet?.stop();
      lab?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });
    const DEADLINE_MS = 12_000;
    try {
      // the master drops an idle NUT client after 2 s: the frozen upsmon is silent far longer than that
      // the relay refuses STARTTLS so that it can read the FSD: off loopback upsmon then logs in clear, which
      // the master refuses unless the operator opts in (allowPlaintextLogin, as on a trusted network)
      fleet = await launchFleet(
        spec(dir, ['nasmon'], '12s', { idleTimeout: 2, ...(lab ? { allowPlaintextLogin: true } : {}) }, lab),
      );
      const f = fleet;
      const r = await freezingRelay(
        nutAddressOf(f),
        () => {
          if (upsmon?.child.pid) process.kill(upsmon.child.pid, 'SIGSTOP');
        },
        lab?.rootAddress,
      );
      relay = r.server;
      upsmon = sb.startUpsmon('nas', {
        ...(lab ? { netns: lab.namespace('nas') } : {}),
        monitor: `ups@${r.address}`,
        user: 'nasmon',
        password: 'nasmon-pass',
        role: 'secondary',
      });
      await waitForAgents(f, 20_000);
      await waitFor(
        async () => (await nutMembers(f)).some((m) => m.group === 'nas' && m.connected),
        'upsmon to log in',
        15_000,
      );
      await critical(f);
      await waitFor(() => r.frozenAt() !== null, 'upsmon to receive FSD (and be frozen)', 40_000);
      await f.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 60_000);
      assert.deepEqual(sb.readMarker('nas'), [], 'the frozen upsmon ran SHUTDOWNCMD');

      const j = f.journal();
      const stepStart = one(j, 'step-start', undefined, 2);
      const orders = seqEntries(j, 'order').filter((e) => e.step === 2);
      assert.equal(orders.length, 1, 'one order at step 2');
      const order = orders[0]!;
      assert.ok(r.frozenAt()! >= ts(order), 'FSD reached upsmon before its order was journaled');
      // never "down": its silence, and the master's own idle timer, confirm nothing
      assert.deepEqual(
        seqEntries(j, 'down').filter((e) => e.step === 2),
        [],
      );
      assert.equal(order.memberId, 'nut:nasmon');
      const cut = one(j, 'deadline', 'nut:nasmon', 2);
      assert.equal(cut.detail, 'ordered');
      const stepEnd = one(j, 'step-end', undefined, 2);
      assert.equal(stepEnd.endedBy, 'deadline');
      assert.ok(ts(stepEnd) - ts(stepStart) >= DEADLINE_MS - 50, 'step 2 ended before its deadline');
      const killpower = killpowerOf(j);
      assert.ok(killpower, 'no killpower in the journal');
      assert.ok(ts(killpower) >= (stepStart.deadline as number) - 50, 'killpower before the deadline');
      // still connected: the master kept it (it did not drop it for silence)
      assert.ok(
        (await nutMembers(f)).some((m) => m.id === 'nut:nasmon' && m.connected),
        'the master dropped the silent upsmon',
      );

      // it comes back (SIGCONT): it acts on the FSD it had received, shuts down, and that is journaled
      process.kill(upsmon.child.pid!, 'SIGCONT');
      await waitFor(() => sb.readMarker('nas').length > 0, 'the upsmon SHUTDOWNCMD marker', 20_000);
      await f.waitForJournal((x) => seqEntries(x, 'late-down', 'nut:nasmon').length > 0, 20_000);
      const late = one(f.journal(), 'late-down', 'nut:nasmon', 2);
      const marker = sb.readMarker('nas')[0]!;
      assert.ok(marker > ts(killpower), 'upsmon shut down before killpower');
      assert.ok(ts(late) >= marker - 50, 'late-down before its SHUTDOWNCMD');
      assert.deepEqual(seqEntries(f.journal(), 'down', 'nut:nasmon'), []);
    } catch (err) {
      (err as Error).message += diagnostics(fleet, [sb]);
      throw err;
    }
  });

  test('a grouped upsmon away at its step is waited for as offline; started later it sees FSD at once and shuts down', {
    timeout: 120_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-nut-away-'));
    // one sandbox per upsmon (each has its own upsmon.conf)
    const early = new NutSandbox();
    const late = new NutSandbox();
    let fleet: RunningFleet | undefined;
    const lab = labFor(['nas', 'bak']);
    t.after(async () => {
      await early.stop();
      await late.stop();
      await fleet?.stop();
      lab?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });
    const DEADLINE_MS = 15_000;
    try {
      fleet = await launchFleet(spec(dir, ['nasmon', 'bakmon'], '15s', {}, lab));
      const f = fleet;
      await waitForAgents(f, 20_000);
      // known in advance, offline: shown in /status before any login
      const before = await nutMembers(f);
      assert.deepEqual(before.map((m) => [m.id, m.group, m.connected]).sort(), [
        ['nut:bakmon', 'nas', false],
        ['nut:nasmon', 'nas', false],
      ]);
      await critical(f);
      await f.waitForJournal((j) => seqEntries(j, 'offline', 'nut:bakmon').length > 0, 30_000);
      let j = f.journal();
      const stepStart = one(j, 'step-start', undefined, 2);
      for (const id of ['nut:nasmon', 'nut:bakmon']) {
        const offline = one(j, 'offline', id, 2);
        assert.equal(offline.memberKind, 'nut');
        assert.equal(offline.group, 'nas');
      }
      assert.deepEqual(
        seqEntries(j, 'step-end').filter((e) => e.step === 2),
        [],
        'step 2 did not wait',
      );

      // nasmon's host comes back during the step: FSD at its first poll, it shuts down, its logout confirms it
      const nut = nutAddressOf(f);
      const startedAt = Date.now();
      early.startUpsmon('nas', {
        ...(lab ? { netns: lab.namespace('nas') } : {}),
        monitor: `ups@${nut}`,
        user: 'nasmon',
        password: 'nasmon-pass',
        role: 'secondary',
      });
      await waitFor(() => early.readMarker('nas').length > 0, 'nasmon SHUTDOWNCMD marker', 15_000);
      await f.waitForJournal((x) => seqEntries(x, 'down', 'nut:nasmon').length > 0, 15_000);
      j = f.journal();
      const resend = one(j, 'resend', 'nut:nasmon', 2);
      const down = one(j, 'down', 'nut:nasmon', 2);
      assert.equal(down.detail, 'connection closed');
      const nasMarker = early.readMarker('nas')[0]!;
      assert.ok(
        nasMarker >= ts(resend) && nasMarker >= startedAt,
        'nasmon shut down before it was shown FSD',
      );
      assert.ok(nasMarker - startedAt < 10_000, 'nasmon did not see FSD at once');
      assert.ok(ts(down) >= nasMarker - 50, 'confirmed before its SHUTDOWNCMD');

      // bakmon stays away through the deadline: cut short, then killpower
      await f.waitForJournal((x) => x.some((e) => e.kind === 'master-poweroff'), 40_000);
      j = f.journal();
      const stepEnd = one(j, 'step-end', undefined, 2);
      assert.equal(stepEnd.endedBy, 'deadline');
      assert.ok(ts(stepEnd) - ts(stepStart) >= DEADLINE_MS - 50);
      assert.equal(one(j, 'deadline', 'nut:bakmon', 2).detail, 'offline');
      assert.deepEqual(seqEntries(j, 'down', 'nut:bakmon'), []);
      const killpower = killpowerOf(j);
      assert.ok(killpower && ts(killpower) >= ts(stepEnd), 'killpower before step 2 ended');

      // bakmon's host comes back after all: it still sees FSD at once and shuts down, journaled
      const lateStart = Date.now();
      late.startUpsmon('bak', {
        ...(lab ? { netns: lab.namespace('bak') } : {}),
        monitor: `ups@${nut}`,
        user: 'bakmon',
        password: 'bakmon-pass',
        role: 'secondary',
      });
      await waitFor(() => late.readMarker('bak').length > 0, 'bakmon SHUTDOWNCMD marker', 15_000);
      await f.waitForJournal((x) => seqEntries(x, 'late-down', 'nut:bakmon').length > 0, 15_000);
      j = f.journal();
      const lateOrder = one(j, 'late-order', 'nut:bakmon', 2);
      const lateDown = one(j, 'late-down', 'nut:bakmon', 2);
      const bakMarker = late.readMarker('bak')[0]!;
      assert.ok(bakMarker - lateStart < 10_000, 'bakmon did not see FSD at once');
      assert.ok(
        ts(lateOrder) <= bakMarker && bakMarker <= ts(lateDown) + 50,
        'late-order, marker, late-down out of order',
      );
      assert.ok(ts(lateOrder) > ts(stepEnd));
    } catch (err) {
      (err as Error).message += diagnostics(fleet, [early, late]);
      throw err;
    }
  });
});
