/**
 * Existing dashboards read upsfleet: a real Prometheus (Debian's `prometheus` package) scrapes a real master
 * (simulated UPS, real agents, over HTTPS with the master's certificate as its CA), and every PromQL
 * expression of the Grafana dashboard the nut_exporter project publishes
 * (test/integration/data/nut-exporter-dashboard.queries.json, source noted there) returns data, its
 * template variables resolved from Prometheus as Grafana resolves them. Then the same for every expression
 * of upsfleet's own dashboard, deploy/grafana/upsfleet.json, after a drill and a short power blip, so
 * that the step, drill and event panels have something to show.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  launchFleet,
  type RunningFleet,
  stopProcesses,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import { pollFor } from '../support/poll.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NUT_DASHBOARD = JSON.parse(
  readFileSync(join(ROOT, 'test', 'integration', 'data', 'nut-exporter-dashboard.queries.json'), 'utf8'),
) as {
  variables: Array<{ name: string; query: string }>;
  expressions: Array<{ panel: string; expr: string }>;
};

interface GrafanaPanel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: GrafanaPanel[];
}
interface GrafanaDashboard {
  panels: GrafanaPanel[];
  templating: { list: Array<{ name: string; definition: string }> };
}
const OWN_DASHBOARD = JSON.parse(
  readFileSync(join(ROOT, 'deploy', 'grafana', 'upsfleet.json'), 'utf8'),
) as GrafanaDashboard;

const HAVE_PROMETHEUS = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).status === 0;

// a UPS that reports what NUT dashboards chart (as a usbhid-ups Back-UPS does), with a power blip on the way
const TIMELINE = `ups.status: OL CHRG
battery.charge: 100
battery.runtime: 1800
battery.voltage: 27.1
battery.voltage.nominal: 24
battery.voltage.low: 20.8
battery.voltage.high: 26
input.voltage: 230.4
input.voltage.nominal: 230
output.voltage: 230
ups.load: 31
device.serial: 3B1712X00000
TIMER 3
ups.status: OB DISCHRG
input.voltage: 0
TIMER 1
ups.status: OL CHRG
input.voltage: 229.6
TIMER 100000
`;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

/** A Prometheus of our own on 127.0.0.1 (port 0: its "Listening on" line says which). */
class Prometheus {
  private child: ChildProcess | null = null;
  url = '';

  constructor(private readonly dir: string) {}

  async start(config: string): Promise<void> {
    writeFileSync(join(this.dir, 'prometheus.yml'), config);
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        '--web.listen-address=127.0.0.1:0',
        '--log.level=info',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    let log = '';
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`prometheus did not listen:\n${log}`)), 20_000);
      child.stderr?.on('data', (b: Buffer) => {
        log += b.toString();
        const m = /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(`http://${m[1]}`);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`prometheus exited with ${code}:\n${log}`));
      });
    });
    child.stderr?.resume();
  }

  async api<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
    return body.data;
  }

  async query(expr: string): Promise<PromVector[]> {
    const data = await this.api<{ resultType: string; result: PromVector[] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    assert.equal(data.resultType, 'vector', expr);
    return data.result;
  }

  /** What Grafana's label_values(metric, label) lists. */
  async labelValues(definition: string, vars: Record<string, string>): Promise<string[]> {
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(definition.trim());
    assert.ok(m, `not a label_values query: ${definition}`);
    const series = substitute(m[1]!, vars);
    return this.api<string[]>(`/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(series)}`);
  }

  async stop(): Promise<void> {
    if (this.child) await stopProcesses([this.child]);
  }
}

/** Grafana's template substitution for a single-valued variable and the interval macros. */
function substitute(expr: string, vars: Record<string, string>): string {
  return expr
    .replace(/\$__rate_interval|\$__interval/g, '30s')
    .replace(/\$(\w+)/g, (whole, name: string) => vars[name] ?? whole);
}

function expressions(panels: GrafanaPanel[]): Array<{ panel: string; expr: string }> {
  return panels.flatMap((p) => [
    ...(p.targets ?? []).filter((t) => t.expr).map((t) => ({ panel: p.title ?? '', expr: t.expr! })),
    ...expressions(p.panels ?? []),
  ]);
}

describe('metrics for existing dashboards, through a real Prometheus', { skip: !HAVE_PROMETHEUS }, () => {
  let fleet: RunningFleet;
  let dir: string;
  const prometheus = { current: null as Prometheus | null };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-nut-exporter-'));
    fleet = await launchFleet({
      dir,
      groups: [
        { name: 'vms', agents: ['vm1', 'vm2'] },
        { name: 'db', agents: ['db1'] },
      ],
      sequence: [
        { groups: ['vms'], deadline: '20s', settle: '100ms' },
        { groups: ['db'], deadline: '20s', settle: '100ms' },
      ],
      timeline: TIMELINE,
      logLevel: 'warn',
    });
    await waitForAgents(fleet, 30_000);
    // the blip (ONBATT then ONLINE) has passed once the journal holds both events
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONLINE'), 20_000);
    await fleet.admin('/api/drill', {});
    await pollFor(
      'the drill to end',
      async () => {
        const s = await fleet.getJson<{ sequence: { state: string; drill: boolean } }>('/status');
        return s.sequence.drill && s.sequence.state === 'done' ? true : undefined;
      },
      30_000,
    );

    const prom = new Prometheus(dir);
    prometheus.current = prom;
    const target = new URL(fleet.httpUrl).host;
    await prom.start(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: upsfleet
    scheme: https
    tls_config:
      ca_file: ${join(dir, 'master', 'state', 'tls', 'master.crt')}
    static_configs:
      - targets: ['${target}']
`);
    // enough samples for the rate() and increase() panels
    await pollFor(
      'Prometheus to scrape the master a few times',
      async () => {
        const r = await prom.query('count_over_time(up{job="upsfleet"}[1m])');
        const up = await prom.query('up{job="upsfleet"}');
        return up[0]?.value[1] === '1' && Number(r[0]?.value[1] ?? 0) >= 4 ? true : undefined;
      },
      30_000,
    );
  });

  after(async () => {
    await prometheus.current?.stop();
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers every query of nut_exporter's published Grafana dashboard", async () => {
    const prom = prometheus.current!;
    const vars: Record<string, string> = {};
    for (const v of NUT_DASHBOARD.variables) {
      const values = await prom.labelValues(v.query, vars);
      assert.ok(values.length > 0, `variable $${v.name} (${v.query}) has no value`);
      vars[v.name] = values[0]!;
    }
    assert.equal(vars.ups, 'ups', 'the UPS is selected by its name');
    assert.equal(vars.job, 'upsfleet');
    assert.ok(NUT_DASHBOARD.expressions.length >= 10);
    for (const { panel, expr } of NUT_DASHBOARD.expressions) {
      const q = substitute(expr, vars);
      const result = await prom.query(q);
      assert.ok(result.length > 0, `panel "${panel}": ${q} returned no data`);
    }
    // and the values are the UPS's
    const value = async (expr: string) => (await prom.query(substitute(expr, vars)))[0]?.value[1];
    assert.equal(await value('network_ups_tools_battery_charge{ups="$ups"}'), '100');
    assert.equal(await value('network_ups_tools_battery_voltage_high{ups="$ups"}'), '26');
    assert.equal(await value('network_ups_tools_input_voltage{ups="$ups"}'), '229.6');
    const flags = await prom.query('network_ups_tools_ups_status == 1');
    assert.deepEqual(flags.map((r) => r.metric.flag).sort(), ['CHRG', 'OL']);
    const info = await prom.query('network_ups_tools_device_info');
    assert.equal(info[0]?.metric.mfr, 'upsfleet');
    assert.equal(info[0]?.metric.model, 'Simulated UPS');
    assert.equal(info[0]?.metric.serial, '3B1712X00000');
  });

  it("answers every query of upsfleet's own dashboard (deploy/grafana/upsfleet.json)", async () => {
    const prom = prometheus.current!;
    const vars: Record<string, string> = {};
    for (const v of OWN_DASHBOARD.templating.list) {
      const values = await prom.labelValues(v.definition, vars);
      assert.ok(values.length > 0, `variable $${v.name} (${v.definition}) has no value`);
      vars[v.name] = values[0]!;
    }
    const all = expressions(OWN_DASHBOARD.panels);
    assert.ok(all.length >= 30, `only ${all.length} expressions`);
    const empty: string[] = [];
    for (const { panel, expr } of all) {
      const q = substitute(expr, vars);
      if ((await prom.query(q)).length === 0) empty.push(`panel "${panel}": ${q}`);
    }
    assert.deepEqual(empty, [], 'expressions without data');
  });
});
