/**
 * The real master process with a `nut` source pointed at a real upsd + dummy-ups (launchFleet with a
 * different `ups.source`, dry-run agents on 127.0.0.1):
 * - dummy-ups plays a `.seq` outage (OL -> OB -> OB LB): the fleet sequence runs in order, killpower is
 *   attempted through upsd (dummy-ups has no instant commands: refused, journaled ok:false) and the master
 *   still powers off (dry-run) last;
 * - dummy-ups stops while on battery: the source goes COMMBAD, and the fleet is critical after the deadtime.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type FleetSpec,
  launchFleet,
  type RunningFleet,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';
import { freePort, NUT_BIN, NutSandbox, nutMissing, run, waitFor } from './nut-sandbox.js';

const skip = nutMissing(['upsd', 'dummyUps', 'upsc']);

type Entry = Record<string, unknown>;

/**
 * Plain ws:// and http:// on loopback: these tests are about NUT, and plain HTTP lets them read /status
 * with fetch and `upsfleet status` (the launcher may default to TLS with a pinned certificate).
 */
function plain(spec: FleetSpec): FleetSpec {
  return { ...spec, insecure: true } as FleetSpec;
}

function markerOf(fleet: RunningFleet, id: string): PowerOffMarker {
  const a = fleet.agents.find((x) => x.id === id)!;
  assert.ok(existsSync(a.marker), `${id} wrote no dry-run marker`);
  return JSON.parse(readFileSync(a.marker, 'utf8')) as PowerOffMarker;
}

function diagnostics(fleet: RunningFleet | undefined, sb: NutSandbox): string {
  if (!fleet) return sb.logs();
  const log = join(fleet.dir, 'logs', 'master.log');
  return `\n----- journal -----\n${fleet
    .journal()
    .map((e) => JSON.stringify(e))
    .join(
      '\n',
    )}\n----- master.log -----\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-6000) : ''}\n${sb.logs()}`;
}

/**
 * Rewrites a dummy-ups `.dev` file so that dummy-ups sees the change: it compares modification times in whole
 * seconds, and two writes in the same second looked unchanged (a CI run here never saw the second one), so
 * every rewrite moves the time at least a second past the last.
 */
function rewrite(file: string, text: string): void {
  const previous = statSync(file).mtimeMs;
  writeFileSync(file, text);
  const next = Math.max(Date.now(), Math.floor(previous / 1000) * 1000 + 1000) / 1000;
  utimesSync(file, next, next);
}

/** A sandboxed upsd + dummy-ups playing `seq`, with a user the master logs in as. */
async function startUpsd(sb: NutSandbox, seq: string, seqExt: 'seq' | 'dev' = 'seq') {
  const port = await freePort();
  const dataFile = sb.configureUpsd({
    port,
    upsName: 'dummy',
    seq,
    seqExt,
    users: [
      { name: 'master', password: 'masterpass', upsmon: 'secondary', instcmds: ['all'], actions: ['set'] },
    ],
  });
  const driver = sb.startDummyUps('dummy');
  await sb.startUpsd(port);
  // upsd answers before it has connected to the driver (DRIVER-NOT-CONNECTED): wait for real data
  await waitFor(
    async () => (await run(NUT_BIN.upsc, [`dummy@127.0.0.1:${port}`, 'ups.status'], sb.env, 3000)).code === 0,
    'upsd to serve dummy-ups data',
    15_000,
  );
  return { port, driver, dataFile };
}

/** The master config's `ups` section for a nut source on that upsd (replaces the simulated one). */
function nutUps(port: number) {
  return {
    ups: {
      name: 'ups',
      description: 'upsd-fed UPS',
      source: {
        type: 'nut',
        host: '127.0.0.1',
        port,
        ups: 'dummy',
        username: 'master',
        password: 'masterpass',
        pollInterval: '500ms',
        pollIntervalOnBattery: '500ms',
      },
    },
  };
}

const STEP = { deadline: '15s', settle: '300ms' };
const isSeq = (event: string, step?: number) => (e: Entry) =>
  e.kind === 'sequence' && e.event === event && (step === undefined || e.step === step);

describe('the master with a nut source on a real upsd + dummy-ups', { skip }, () => {
  test('a .seq outage (OL -> OB -> OB LB) runs the fleet sequence; killpower is tried, the master goes last', {
    timeout: 90_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-fleet-nutsrc-'));
    const sb = new NutSandbox();
    let fleet: RunningFleet | undefined;
    t.after(async () => {
      await fleet?.stop();
      await sb.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    try {
      // on line until the master and agents are up (a .dev that dummy-ups reads again when it changes: a
      // timed .seq went on battery before the agents had connected on a busy machine), then OB, then OB LB
      const device = (status: string, charge: number) =>
        `ups.mfr: Sandbox\nups.model: Outage 1500\nbattery.charge: ${charge}\nbattery.runtime: 1800\nups.status: ${status}\n`;
      const { port, dataFile } = await startUpsd(sb, device('OL', 100), 'dev');
      const spec: FleetSpec = {
        dir,
        groups: [
          { name: 'vms', agents: ['vm1'] },
          { name: 'db', agents: ['db1'] },
        ],
        sequence: [
          { groups: ['vms'], ...STEP },
          { groups: ['db'], ...STEP },
        ],
        timeline: 'TIMER 1\n', // unused: the nut source replaces the simulated one
        debounce: '500ms',
        masterExtra: nutUps(port),
      };
      fleet = await launchFleet(plain(spec));
      const f = fleet;
      await waitForAgents(f, 20_000);
      assert.ok(!f.journal().some((e) => e.kind === 'critical'), 'critical before the agents connected');
      rewrite(dataFile, device('OB DISCHRG', 60));
      await f.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 20_000);
      rewrite(dataFile, device('OB DISCHRG LB', 10));
      await f.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 45_000);
      const journal = f.journal();

      // the master saw upsd's statuses: on battery, then low battery, then critical for OB LB
      const onbatt = journal.findIndex((e) => e.kind === 'event' && e.event === 'ONBATT');
      const lowbatt = journal.findIndex((e) => e.kind === 'event' && e.event === 'LOWBATT');
      const critical = journal.findIndex((e) => e.kind === 'critical');
      assert.ok(
        onbatt >= 0 && onbatt < lowbatt && lowbatt < critical,
        'ONBATT, LOWBATT, critical out of order',
      );
      assert.equal(journal[critical]!.reason, 'on battery with low battery (OB LB)');
      assert.ok(
        !journal.some((e) => e.kind === 'comm' && e.ok === false),
        'the source lost upsd during the test',
      );

      // the steps in order, proven by the agents' own markers
      const vm1 = markerOf(f, 'vm1');
      const db1 = markerOf(f, 'db1');
      assert.ok(
        vm1.ts < db1.orderReceivedAt!,
        `db1 ordered at ${db1.orderReceivedAt} before vm1 was down at ${vm1.ts}`,
      );
      assert.ok(journal.findIndex(isSeq('step-end', 1)) < journal.findIndex(isSeq('step-start', 2)));
      assert.ok(vm1.orderReceivedAt! >= (journal[critical]!.ts as number));

      // killpower goes to upsd as INSTCMD; dummy-ups has no instant commands, so upsd refuses it: the
      // journal says so, and the master powers off anyway (a master on a dying battery protects nobody)
      const kp = journal.findIndex((e) => e.kind === 'killpower');
      assert.ok(kp >= 0, 'killpower was not attempted');
      const killpower = journal[kp]!;
      assert.equal(killpower.command, 'shutdown.return');
      assert.equal(
        killpower.ok,
        false,
        `dummy-ups unexpectedly accepted killpower: ${JSON.stringify(killpower)}`,
      );
      assert.match(String(killpower.error), /does not support INSTCMD shutdown\.return|CMD-NOT-SUPPORTED/);
      assert.ok((killpower.ts as number) > db1.ts, 'killpower before the last step was down');
      const poweroff = journal.findIndex((e) => e.kind === 'master-poweroff');
      assert.ok(poweroff > kp);
      assert.equal(journal[poweroff]!.dryRun, true);
      const master = JSON.parse(
        readFileSync(join(dir, 'markers', 'master.poweroff'), 'utf8'),
      ) as PowerOffMarker;
      assert.ok(master.ts >= (killpower.ts as number));

      // the master relays upsd's variables
      const status = (await (await fetch(`${f.httpUrl}/status`)).json()) as {
        master: { source: string };
        ups: { vars: Record<string, string> };
      };
      assert.equal(status.master.source, 'nut');
      assert.equal(status.ups.vars['ups.model'], 'Outage 1500');
      assert.equal(status.ups.vars['battery.charge'], '10');
    } catch (err) {
      (err as Error).message += diagnostics(fleet, sb);
      throw err;
    }
  });

  test('dummy-ups stops while on battery: COMMBAD, then critical after the deadtime, then the sequence', {
    timeout: 90_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-fleet-nutdead-'));
    const sb = new NutSandbox();
    let fleet: RunningFleet | undefined;
    t.after(async () => {
      await fleet?.stop();
      await sb.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    try {
      // OL 6 s, then on battery with plenty of charge: never critical on its own
      const { port, driver } = await startUpsd(
        sb,
        'ups.model: Outage 1500\nbattery.charge: 100\nups.status: OL\nTIMER 6\nups.status: OB DISCHRG\nbattery.charge: 80\nTIMER 600\n',
      );
      fleet = await launchFleet(
        plain({
          dir,
          groups: [{ name: 'app', agents: ['app1'] }],
          sequence: [{ groups: ['app'], ...STEP }],
          timeline: 'TIMER 1\n',
          debounce: '500ms',
          deadtime: '3s',
          masterExtra: nutUps(port),
        }),
      );
      const f = fleet;
      await waitForAgents(f, 20_000);
      await f.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 20_000);
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(!f.journal().some((e) => e.kind === 'critical'), 'OB alone made the fleet critical');

      const stoppedAt = Date.now();
      await driver.stop();
      await f.waitForJournal((j) => j.some(isSeq('step-end', 1)), 30_000);
      const journal = f.journal();
      assert.ok(!journal.some((e) => e.kind === 'comm' && e.ok === false && (e.ts as number) < stoppedAt));
      const commbad = journal.findIndex((e) => e.kind === 'comm' && e.ok === false);
      assert.ok(commbad >= 0, 'no COMMBAD after dummy-ups stopped');
      assert.match(String(journal[commbad]!.reason), /DRIVER-NOT-CONNECTED|DATA-STALE/);
      const commbadAt = journal[commbad]!.ts as number;
      assert.ok(commbadAt >= stoppedAt, 'COMMBAD before the driver stopped');
      assert.ok(
        journal.some((e, i) => i > commbad - 2 && e.kind === 'event' && e.event === 'COMMBAD'),
        'no COMMBAD event for the agents',
      );
      const critical = journal.findIndex((e) => e.kind === 'critical');
      assert.ok(critical > commbad, 'critical not after COMMBAD');
      assert.match(String(journal[critical]!.reason), /UPS source lost while on battery for 3s \(deadtime\)/);
      const waited = (journal[critical]!.ts as number) - commbadAt;
      assert.ok(waited >= 2900 && waited < 6000, `critical ${waited} ms after COMMBAD, deadtime is 3 s`);
      // and the sequence follows
      assert.ok(journal.findIndex(isSeq('step-start', 1)) > critical);
      assert.ok(markerOf(f, 'app1').orderReceivedAt! >= (journal[critical]!.ts as number));
    } catch (err) {
      (err as Error).message += diagnostics(fleet, sb);
      throw err;
    }
  });
});
