/**
 * Real upsmon processes against the real master process (launchFleet: master + dry-run agents on 127.0.0.1):
 * - a secondary mapped to group `nas` goes down exactly at the nas step of a simulated outage (after the
 *   vms agents' dry-run power-offs, before the db agent's order), and the master waits for its logout;
 * - `upsc` against the master prints exactly the `ups.vars` of `upsfleet status --json`;
 * - a primary that sees OB LB sets FSD (the master answers OK FSD-SET) and the master starts the sequence.
 * upsmon's SHUTDOWNCMD only writes a timestamped marker; agents and the master are dry-run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type FleetSpec,
  launchFleet,
  type RunningFleet,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';
import { NUT_BIN, NutSandbox, nutMissing, run, waitFor } from './nut-sandbox.js';

const skip = nutMissing(['upsmon', 'upsc']);

type Entry = Record<string, unknown>;

/**
 * Plain ws:// and http:// on loopback: these tests are about NUT, and plain HTTP lets them read /status
 * with fetch and `upsfleet status` (the launcher may default to TLS with a pinned certificate).
 */
function plain(spec: FleetSpec): FleetSpec {
  return { ...spec, insecure: true } as FleetSpec;
}

/** The master's NUT listener, from the master.json it writes once it listens (port 0 picks a free one). */
export function nutAddressOf(fleet: RunningFleet): string {
  const info = JSON.parse(readFileSync(join(fleet.dir, 'master', 'state', 'master.json'), 'utf8')) as {
    nut?: string;
  };
  assert.ok(info.nut, 'master.json has no nut address: is the nut section on?');
  return info.nut;
}

export function markerOf(fleet: RunningFleet, id: string): PowerOffMarker {
  const a = fleet.agents.find((x) => x.id === id)!;
  assert.ok(existsSync(a.marker), `${id} wrote no dry-run marker`);
  return JSON.parse(readFileSync(a.marker, 'utf8')) as PowerOffMarker;
}

export async function nutMembers(
  fleet: RunningFleet,
): Promise<Array<{ id: string; group: string; connected: boolean }>> {
  const s = (await (await fetch(`${fleet.httpUrl}/status`)).json()) as {
    agents: Array<{ id: string; kind: string; group: string; connected: boolean }>;
  };
  return s.agents.filter((a) => a.kind === 'nut');
}

/** What a failing test prints: the journal and the processes' logs. */
function diagnostics(fleet: RunningFleet | undefined, sb: NutSandbox): string {
  if (!fleet) return sb.logs();
  const master = existsSync(join(fleet.dir, 'logs', 'master.log'))
    ? readFileSync(join(fleet.dir, 'logs', 'master.log'), 'utf8').slice(-6000)
    : '';
  return `\n----- journal -----\n${fleet
    .journal()
    .map((e) => JSON.stringify(e))
    .join('\n')}\n----- master.log -----\n${master}\n${sb.logs()}`;
}

const STEP = { deadline: '20s', settle: '300ms' };

// on line until every member is up (a fixed timer went critical before upsmon had logged in on a busy
// machine); the outage is then played through the admin API (ON_BATTERY, then LOW_BATTERY)
const ON_LINE = `ups.status: OL CHRG
battery.charge: 100
battery.runtime: 1800
input.voltage: 230
ups.mfr: Sandbox
ups.model: Fleet 1500
TIMER 600
`;
const ON_BATTERY: Array<[string, string]> = [
  ['input.voltage', '0'],
  ['battery.charge', '60'],
  ['battery.runtime', '900'],
  ['ups.status', 'OB DISCHRG'],
];
const LOW_BATTERY: Array<[string, string]> = [
  ['battery.charge', '15'],
  ['battery.runtime', '200'],
  ['ups.status', 'OB DISCHRG LB'],
];

async function play(fleet: RunningFleet, changes: Array<[string, string]>): Promise<void> {
  for (const [name, value] of changes) await fleet.admin('/api/simulate', { name, value });
}

describe('real upsmon with the real master process', { skip }, () => {
  test('a secondary of group nas goes down exactly at the nas step; upsc prints what status --json shows', {
    timeout: 90_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-fleet-upsmon-'));
    const sb = new NutSandbox();
    let fleet: RunningFleet | undefined;
    t.after(async () => {
      await sb.stop();
      await fleet?.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const spec: FleetSpec = {
      dir,
      groups: [
        { name: 'vms', agents: ['vm1'] },
        { name: 'db', agents: ['db1'] },
      ],
      sequence: [
        { groups: ['vms'], ...STEP },
        { groups: ['nas'], ...STEP },
        { groups: ['db'], ...STEP },
      ],
      timeline: ON_LINE,
      speed: 1,
      debounce: '500ms',
      masterExtra: {
        nut: {
          listen: '127.0.0.1:0',
          users: [{ name: 'nasmon', password: 'naspass', upsmon: 'secondary', group: 'nas' }],
        },
      },
    };
    try {
      fleet = await launchFleet(plain(spec));
      const nut = nutAddressOf(fleet);
      sb.startUpsmon('nas', {
        monitor: `ups@${nut}`,
        user: 'nasmon',
        password: 'naspass',
        role: 'secondary',
        hostSync: 3,
      });
      await waitForAgents(fleet, 20_000);
      await waitFor(
        async () => (await nutMembers(fleet!)).some((m) => m.group === 'nas' && m.connected),
        'upsmon to log in',
        10_000,
      );
      const f = fleet;
      assert.ok(
        !f.journal().some((e) => e.kind === 'critical'),
        'the outage went critical before upsmon logged in',
      );
      await play(f, ON_BATTERY);
      await f.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 20_000);
      await play(f, LOW_BATTERY);
      await f.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 60_000);

      const journal = f.journal();
      const seq = (pred: (e: Entry) => boolean) => journal.findIndex((e) => e.kind === 'sequence' && pred(e));
      const isNut = (e: Entry) => e.memberId === 'nut:nasmon';
      const upsmonAt = sb.readMarker('nas');
      assert.equal(upsmonAt.length, 1, `upsmon ran SHUTDOWNCMD ${upsmonAt.length} times`);
      const upsmonDown = upsmonAt[0]!;

      // after the step before it: the vms agent's dry-run power-off came before upsmon's SHUTDOWNCMD
      const vm1 = markerOf(f, 'vm1');
      assert.ok(vm1.ts < upsmonDown, `vm1 down at ${vm1.ts}, upsmon at ${upsmonDown}`);
      // it was ordered at step 2 (FSD made visible to it), not before
      const order = seq((e) => e.event === 'order' && isNut(e));
      assert.ok(order >= 0, 'no order to the NUT member in the journal');
      assert.equal(journal[order]!.step, 2);
      assert.ok((journal[order]!.ts as number) <= upsmonDown, 'upsmon went down before its order');
      // its logout confirms it: 'down' for the NUT member, then (and only then) step 3 starts
      const down = seq((e) => e.event === 'down' && isNut(e));
      assert.ok(down >= 0, 'the NUT member was never confirmed down');
      assert.equal(journal[down]!.detail, 'connection closed');
      const downAt = journal[down]!.ts as number;
      assert.ok(downAt >= upsmonDown - 5, `logout at ${downAt} before SHUTDOWNCMD at ${upsmonDown}`);
      const step2End = seq((e) => e.event === 'step-end' && e.step === 2);
      const step3Start = seq((e) => e.event === 'step-start' && e.step === 3);
      assert.ok(down < step2End && step2End < step3Start, 'step 3 started before the upsmon logout');
      assert.equal(journal[step2End]!.endedBy, 'confirmed', 'step 2 ended by its deadline, not the logout');
      // before the step after it: the db agent got its order only after upsmon had logged out
      const db1 = markerOf(f, 'db1');
      assert.ok(
        db1.orderReceivedAt! > downAt,
        `db1 ordered at ${db1.orderReceivedAt}, upsmon out at ${downAt}`,
      );
      // and the master itself last
      const poweroff = journal.find((e) => e.kind === 'master-poweroff')!;
      assert.ok((poweroff.ts as number) > db1.ts);

      // upsc against the running master prints exactly the variables of `upsfleet status --json`
      // (the timeline holds OB DISCHRG LB now, so the values are stable; an anonymous reader sees no FSD)
      const upsc = await run(NUT_BIN.upsc, [`ups@${nut}`], sb.env);
      assert.equal(upsc.code, 0, upsc.stderr);
      const fromUpsc = Object.fromEntries(
        upsc.stdout
          .trimEnd()
          .split('\n')
          .map((l) => {
            const i = l.indexOf(': ');
            return [l.slice(0, i), l.slice(i + 2)];
          }),
      );
      const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
      const statusJson = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [cli, 'status', '--json', f.httpUrl], (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        ),
      );
      const status = JSON.parse(statusJson) as { ups: { vars: Record<string, string> } };
      assert.deepEqual(fromUpsc, status.ups.vars);
      assert.deepEqual(String(fromUpsc['ups.status']).split(' ').sort(), ['DISCHRG', 'LB', 'OB']);
      assert.equal(fromUpsc['ups.model'], 'Fleet 1500');
    } catch (err) {
      (err as Error).message += diagnostics(fleet, sb);
      throw err;
    }
  });
  test('a primary upsmon that sees OB LB sets FSD and the master starts the sequence', {
    timeout: 90_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-fleet-primary-'));
    const sb = new NutSandbox();
    let fleet: RunningFleet | undefined;
    t.after(async () => {
      await sb.stop();
      await fleet?.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const spec: FleetSpec = {
      dir,
      groups: [{ name: 'app', agents: ['app1'] }],
      sequence: [{ groups: ['app'], ...STEP }],
      // OL for 6 s (upsmon logs in), then straight to OB LB; the master's own OB LB rule is debounced
      // for 30 s here, so only the primary's FSD can make the fleet critical within the test
      timeline:
        'ups.status: OL\nbattery.charge: 100\nTIMER 6\nups.status: OB LB\nbattery.charge: 8\nTIMER 600\n',
      speed: 1,
      debounce: '30s',
      masterExtra: {
        nut: { listen: '127.0.0.1:0', users: [{ name: 'boss', password: 'bosspass', upsmon: 'primary' }] },
      },
    };
    try {
      fleet = await launchFleet(plain(spec));
      const f = fleet;
      sb.startUpsmon('boss', {
        monitor: `ups@${nutAddressOf(f)}`,
        user: 'boss',
        password: 'bosspass',
        role: 'primary',
        hostSync: 3,
      });
      await waitForAgents(f, 20_000);
      await f.waitForJournal(
        (j) => j.some((e) => e.kind === 'sequence' && e.event === 'step-end' && e.step === 1),
        30_000,
      );
      const journal = f.journal();
      const critical = journal.findIndex((e) => e.kind === 'critical');
      assert.ok(critical >= 0, 'the fleet never became critical');
      assert.match(
        String(journal[critical]!.reason),
        /^forced shutdown: FSD from NUT user boss: FSD set by NUT client boss@127\.0\.0\.1/,
      );
      const fsdEvent = journal.findIndex((e) => e.kind === 'event' && e.event === 'FSD');
      assert.ok(fsdEvent >= 0 && fsdEvent < critical, 'no FSD event before the critical state');
      const step1 = journal.findIndex(
        (e) => e.kind === 'sequence' && e.event === 'step-start' && e.step === 1,
      );
      assert.ok(step1 > critical, 'step 1 did not follow the FSD');
      const app1 = markerOf(f, 'app1');
      assert.ok(app1.orderReceivedAt! >= (journal[critical]!.ts as number));
      // upsmon got OK FSD-SET: it logs "FSD set on UPS ... failed" for any other answer
      const out = sb.logs();
      assert.doesNotMatch(out, /FSD set on UPS .* failed/);
      assert.match(out, /Critical UPS/);
      // then (no other NUT client logged in) the primary shuts its own host down: marker only
      await waitFor(() => sb.readMarker('boss').length > 0, 'the primary upsmon SHUTDOWNCMD marker', 20_000);
      // it left after seeing FSD, before its own step (the implicit @secondaries step, the last before
      // the master): that step counts it down at once instead of waiting its deadline for a gone client
      await f.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 20_000);
      const end = f.journal();
      const bossDown = end.find(
        (e) => e.kind === 'sequence' && e.event === 'down' && String(e.memberId).startsWith('nut:boss@'),
      );
      assert.ok(bossDown, 'the primary was never counted down');
      assert.equal(bossDown.step, 2);
      assert.equal(bossDown.detail, 'left after seeing FSD');
      const step2End = end.find((e) => e.kind === 'sequence' && e.event === 'step-end' && e.step === 2);
      assert.equal(step2End?.endedBy, 'confirmed');
      const poweroff = end.find((e) => e.kind === 'master-poweroff')!;
      assert.ok(
        (poweroff.ts as number) - (journal[critical]!.ts as number) < 10_000,
        'the master waited a deadline',
      );
    } catch (err) {
      (err as Error).message += diagnostics(fleet, sb);
      throw err;
    }
  });
});
