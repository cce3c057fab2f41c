/**
 * The fleet-wide drill with real processes: a master on a simulated UPS (on mains all along) and 5 agents in
 * 3 groups, every agent being THE one-file artefact dist/upsfleet-agent.cjs run by plain node. `upsfleet drill`
 * must show progress host by host and a report listing every agent with its durations; nothing powers off
 * (no dry-run marker, no non-drill-safe hook). Then: a second drill (repeatable), `upsfleet plan` from the
 * measurements kept in the stateDir, and `promtool check metrics` on /metrics.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import { main } from '../../cli/dispatch.js';
import type { DrillReport } from '../../master/drill/drill-report.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE = join(ROOT, 'dist', 'upsfleet-agent.cjs');

const GROUPS = [
  { name: 'vms', agents: ['vm1', 'vm2'] },
  { name: 'app', agents: ['app1', 'app2'] },
  { name: 'db', agents: ['db1'] },
];

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

describe('upsfleet drill across a live fleet of one-file agents', () => {
  let fleet: RunningFleet;
  let dir: string;
  let first: { code: number; out: string; err: string };

  before(async () => {
    // `npm test` builds first; a bare run of this file builds the artefact if it is missing
    if (!existsSync(BUNDLE)) {
      const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-bundles.mjs')], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(b.status, 0, b.stderr);
    }
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-drill-'));
    fleet = await launchFleet({
      dir,
      agentBundle: BUNDLE,
      groups: GROUPS.map((g) => ({
        ...g,
        hooks: [
          { name: `flush-${g.name}`, run: 'sleep 0.15', timeout: '10s', drillSafe: true },
          // not drill-safe: must never run in a drill
          {
            name: `stop-${g.name}`,
            run: `touch "${join(dir, 'markers', `${g.name}.real-hook-ran`)}"`,
            timeout: '10s',
          },
        ],
      })),
      sequence: [
        { groups: ['vms'], deadline: '20s', settle: '200ms' },
        { groups: ['app'], deadline: '20s', settle: '200ms' },
        { groups: ['db'], deadline: '20s', settle: '200ms' },
      ],
      timeline:
        'ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 1800\ninput.voltage: 230\nTIMER 100000\n',
    });
    await waitForAgents(fleet, 30_000);
    process.env.UPSFLEET_FINGERPRINT = fleet.fingerprint ?? '';
    first = await cli(['drill', '--master', fleet.httpUrl, '--token', fleet.adminToken, '--interval', '100']);
  });

  after(async () => {
    delete process.env.UPSFLEET_FINGERPRINT;
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the agents from the one-file artefact', async () => {
    for (const a of fleet.agents) assert.deepEqual(a.process.spawnargs.slice(1, 3), [BUNDLE, '-c']);
    const status = await fleet.getJson<{ agents: Array<{ id: string; version: string | null }> }>('/status');
    for (const a of fleet.agents)
      assert.ok(status.agents.find((x) => x.id === a.id)?.version, `${a.id} reported no version`);
  });

  it("runs by its own #! line with the agent unit's Node.js flags", () => {
    const unit = readFileSync(join(ROOT, 'deploy/systemd/upsfleet-agent.service'), 'utf8');
    const exec = /^ExecStart=\/usr\/bin\/node (.*?) \/usr\/local\/lib\/upsfleet\/upsfleet-agent\.cjs /m.exec(
      unit,
    );
    assert.ok(exec, 'the unit starts node with flags before the bundle');
    assert.equal(readFileSync(BUNDLE, 'utf8').split('\n', 1)[0], `#!/usr/bin/env -S node ${exec[1]}`);
    const r = spawnSync(BUNDLE, ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'node accepted every flag');
  });

  it('passes and shows the progress step by step, host by host', () => {
    assert.equal(first.code, 0, `${first.out}\n${first.err}`);
    const out = first.out;
    const at = (s: string) => {
      const i = out.indexOf(s);
      assert.ok(i >= 0, `progress lacks "${s}":\n${out}`);
      return i;
    };
    assert.ok(
      at('step 1 [vms] started') < at('step 1 [vms] done') &&
        at('step 1 [vms] done') < at('step 2 [app] started'),
    );
    assert.ok(at('step 2 [app] done') < at('step 3 [db] started'));
    for (const g of GROUPS)
      for (const id of g.agents) {
        assert.match(out, new RegExp(`\\n  ${id}\\s+acked in \\d+`), `no ack line for ${id}`);
        assert.match(
          out,
          new RegExp(`\\n  ${id}\\s+hook 1/2 flush-${g.name}: ok in `),
          `no hook line for ${id}`,
        );
        assert.match(
          out,
          new RegExp(`\\n  ${id}\\s+going down after .*dry-run`),
          `no going-down line for ${id}`,
        );
      }
    assert.match(out, /DRILL REPORT .*: PASSED - 5 host\(s\), 0 failure\(s\)/);
  });

  it('reports every agent with its ack latency, hook durations and would-be shutdown time', () => {
    const file = join(dir, 'master', 'state', 'drill-report.json');
    assert.ok(existsSync(file), 'the master kept no drill measurements');
    const report = JSON.parse(readFileSync(file, 'utf8')) as DrillReport;
    assert.equal(report.ok, true);
    const agents = report.hosts.filter((h) => h.kind === 'agent');
    assert.deepEqual(agents.map((h) => h.id).sort(), GROUPS.flatMap((g) => g.agents).sort());
    for (const h of agents) {
      assert.ok(h.ackLatencyMs !== null && h.ackLatencyMs >= 0, `${h.id} ack latency`);
      assert.deepEqual(
        h.hooks.map((k) => [k.name, k.status]),
        [
          [`flush-${h.group}`, 'ok'],
          [`stop-${h.group}`, 'skipped'],
        ],
        `${h.id}: only the drill-safe hook runs`,
      );
      assert.ok(h.hooks[0]!.durationMs >= 100, `${h.id} hook duration ${h.hooks[0]!.durationMs}`);
      assert.ok(h.shutdownMs !== null && h.shutdownMs >= h.hooks[0]!.durationMs, `${h.id} shutdown time`);
      assert.ok(h.wouldBeDownAtMs !== null);
      assert.equal(h.dryRun, true);
      assert.deepEqual(h.failures, []);
      assert.match(
        first.out,
        new RegExp(`\\n${h.id}\\s+${h.group}\\s+\\d\\s+\\d+ms\\s+flush-${h.group} \\d`),
        `report row for ${h.id}`,
      );
    }
    assert.ok(report.steps.every((s) => s.durationMs !== null && s.endedBy === 'confirmed'));
  });

  it('powers nothing off: no dry-run marker, no non-drill-safe hook, no killpower', () => {
    const markers = readdirSync(join(dir, 'markers'));
    assert.deepEqual(markers, [], `files in markers/: ${markers.join(', ')}`);
    assert.ok(!fleet.journal().some((e) => e.kind === 'killpower' || e.kind === 'master-poweroff'));
  });

  it('can be repeated, and `upsfleet plan` uses the measured durations', async () => {
    const again = await cli([
      'drill',
      '--master',
      fleet.httpUrl,
      '--token',
      fleet.adminToken,
      '--interval',
      '100',
      '--json',
    ]);
    assert.equal(again.code, 0, again.err);
    const second = JSON.parse(again.out) as DrillReport;
    const kept = JSON.parse(
      readFileSync(join(dir, 'master', 'state', 'drill-report.json'), 'utf8'),
    ) as DrillReport;
    assert.equal(kept.runId, second.runId);
    assert.ok(first.out.includes('DRILL REPORT') && !first.out.includes(second.runId));

    const plan = await cli(['plan', '--master', fleet.httpUrl]);
    assert.equal(plan.code, 0, plan.err);
    assert.match(plan.out, /\n1\s+vms\s+[\d.]+s\s+last drill/);
    assert.match(plan.out, /battery\.runtime now: 1800\.0s/);
    assert.match(plan.out, /verdict: FITS/);

    const status = await cli(['status', fleet.httpUrl]);
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, /^vms: step 1, 2\/2 connected$/m);
    assert.match(status.out, /^db: step 3, 1\/1 connected$/m);
    assert.match(status.out, /^battery plan: fits/m);

    // the pin can also come from --fingerprint; a wrong one is refused before anything is read
    const fromEnv = process.env.UPSFLEET_FINGERPRINT;
    delete process.env.UPSFLEET_FINGERPRINT;
    try {
      const pinned = await cli(['status', '--fingerprint', fleet.fingerprint ?? '', fleet.httpUrl]);
      assert.equal(pinned.code, 0, pinned.err);
      const wrong = await cli(['status', '--fingerprint', `sha256:${'00'.repeat(32)}`, fleet.httpUrl]);
      assert.equal(wrong.code, 4);
      assert.doesNotMatch(wrong.out, /battery\.charge/);
    } finally {
      process.env.UPSFLEET_FINGERPRINT = fromEnv;
    }
  });

  it('serves /metrics that promtool accepts', async (t) => {
    const res = await pinnedRequest(`${fleet.httpUrl}/metrics`, {
      fingerprints: fleet.fingerprint ? [fleet.fingerprint] : [],
    });
    assert.equal(res.status, 200);
    assert.match(res.text, /\nupsfleet_ups_battery_runtime_seconds\{ups="ups"\} 1800\n/);
    assert.match(res.text, /\nupsfleet_ups_status\{ups="ups",flag="OL"\} 1\n/);
    assert.match(res.text, /\nupsfleet_agents_connected\{group="vms"\} 2\n/);
    assert.match(res.text, /\nupsfleet_sequence_state\{state="done"\} 1\n/);
    assert.match(res.text, /\nupsfleet_member_ack_latency_seconds\{agent="db1",group="db"\} [\d.e-]+\n/);
    assert.match(res.text, /\nupsfleet_plan_fits 1\n/);
    const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
    if (which.status !== 0) {
      t.skip('promtool not installed (Debian package prometheus): the format check is skipped');
      return;
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  });
});
