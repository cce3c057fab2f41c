/**
 * The Podman guest preset against a real (rootful) Podman with its own storage: containers running
 * `sleep` from an image made locally of busybox-static. First the preset alone (a drill that lists and
 * stops nothing; a stop in the configured order, a container that ignores SIGTERM killed after
 * forceAfter and reported forced; the restart after power), then in a real fleet: a master on a simulated
 * UPS and one dry-run agent whose hook is the preset, where the drill report, GET /status and the journal
 * show each container, and the agent starts them again once the UPS is on line after the outage.
 * Docker uses the same driver with `docker` for `podman` (not run here: see docs/GUESTS.md).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GuestRestarter } from '../../agent/guest-restarter.js';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import type { DrillReport } from '../../master/drill/drill-report.js';
import type { SequenceView } from '../../master/sequencer/sequence-view.js';
import { systemClock } from '../../shared/clock.js';
import { parseAgentSettings } from '../../shared/config/agent-settings.js';
import type { HookSpec } from '../../shared/config/resolved.js';
import { type HookProgress, runHooks } from '../../shared/exec/hook-runner.js';
import { listRecords } from '../../shared/guests/guest-record.js';
import { silentLogger } from '../../shared/logger.js';
import { type PodmanSandbox, podmanSkipReason, startPodmanSandbox } from '../support/podman-sandbox.js';

const skip = podmanSkipReason();

/** Ends on SIGTERM at once (busybox sh as PID 1 with a trap). */
const GRACEFUL = ['sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'];
/** PID 1 without a handler ignores SIGTERM: only the engine's SIGKILL ends it. */
const STUBBORN = ['sleep', '1000'];

function hooksOf(yaml: string, stateDir: string): HookSpec[] {
  return parseAgentSettings(
    `agent: { id: host1, group: app, token: "0123456789abcdef", stateDir: "${stateDir}" }\nmaster: { urls: ["ws://127.0.0.1:1"] }\n${yaml}`,
    join(stateDir, 'agent.yaml'),
  ).hooks;
}

async function until(what: string, probe: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('podman guest preset on a real Podman', { skip: skip ?? false }, () => {
  let pm: PodmanSandbox;
  let stateDir: string;
  const PRESET = `hooks:\n  - { name: stop containers, preset: podman, timeout: 20s, forceAfter: 2s, order: [db], exclude: [keep], restartAfterPower: on-start }\n`;

  before(() => {
    pm = startPodmanSandbox();
    stateDir = join(pm.dir, 'agent-state');
    pm.run('db', GRACEFUL);
    pm.run('web', GRACEFUL);
    pm.run('stubborn', STUBBORN);
    pm.run('keep', GRACEFUL);
    assert.deepEqual(pm.running(), { db: true, web: true, stubborn: true, keep: true });
  });

  after(async () => {
    await pm?.stop();
  });

  it('in a drill lists the running containers in their stop order and stops nothing', async () => {
    const progress: HookProgress[] = [];
    const summary = await runHooks(hooksOf(PRESET, stateDir), {
      logger: silentLogger(),
      drill: true,
      stateDir,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(summary.failures, 0);
    const listed = summary.outcomes[0]!.guests!.map((g) => [g.name, g.kind, g.state]);
    assert.deepEqual(listed[0], ['db', 'container', 'would-stop'], 'db comes first');
    assert.deepEqual(
      new Set(listed.slice(1).map((g) => g[0])),
      new Set(['web', 'stubborn']),
      'keep is excluded',
    );
    assert.equal(progress.filter((p) => p.guest?.state === 'would-stop').length, 3);
    assert.deepEqual(pm.running(), { db: true, web: true, stubborn: true, keep: true });
    assert.equal(listRecords(stateDir).length, 0);
  });

  it('stops the containers in order, reports each (the one ignoring SIGTERM as forced) and records them', async () => {
    const progress: HookProgress[] = [];
    const runningWhenDbOff = new Map<string, boolean>();
    const summary = await runHooks(hooksOf(PRESET, stateDir), {
      logger: silentLogger(),
      stateDir,
      onProgress: (p) => {
        progress.push(p);
        if (p.guest?.name === 'db' && p.guest.state === 'stopped')
          for (const [k, v] of Object.entries(pm.running())) runningWhenDbOff.set(k, v);
      },
    });
    assert.equal(summary.failures, 0, JSON.stringify(summary.outcomes));
    const final = new Map(summary.outcomes[0]!.guests!.map((g) => [g.name, g]));
    assert.equal(final.get('db')?.state, 'stopped');
    assert.equal(final.get('web')?.state, 'stopped');
    assert.equal(final.get('stubborn')?.state, 'forced');
    assert.ok((final.get('stubborn')?.durationMs ?? 0) >= 2_000, 'killed only after forceAfter');
    assert.ok((final.get('web')?.durationMs ?? 99_999) < 2_000, 'a graceful stop is not made to wait');
    assert.equal(runningWhenDbOff.get('db'), false);
    assert.equal(runningWhenDbOff.get('web'), true, 'web still ran when db was reported stopped');
    const news = progress.flatMap((p) => (p.guest ? [`${p.guest.name} ${p.guest.state}`] : []));
    assert.deepEqual(news.slice(0, 2), ['db stopping', 'db stopped']);
    assert.equal(pm.exitCode('stubborn'), 137);
    assert.equal(pm.exitCode('web'), 0);
    assert.deepEqual(pm.running(), { db: false, web: false, stubborn: false, keep: true });
    const records = listRecords(stateDir);
    assert.equal(records.length, 1);
    assert.deepEqual(
      new Set(records[0]!.record!.guests.map((g) => g.name)),
      new Set(['db', 'web', 'stubborn']),
    );
  });

  it('starts what it stopped when the agent starts again (on-start), and never twice', async () => {
    const started: string[] = [];
    const restarter = new GuestRestarter({
      stateDir,
      clock: systemClock,
      logger: silentLogger(),
      isShuttingDown: () => false,
      onRestarted: (r) => started.push(...r.guests.map((g) => `${g.name} ${g.state}`)),
    });
    restarter.check();
    await restarter.idle();
    assert.deepEqual(new Set(started), new Set(['db started', 'web started', 'stubborn started']));
    assert.deepEqual(pm.running(), { db: true, web: true, stubborn: true, keep: true });
    assert.deepEqual(readdirSync(join(stateDir, 'guests')), []);
    pm.podman('stop', '-t', '0', 'web');
    restarter.check();
    await restarter.idle();
    assert.equal(started.length, 3);
    assert.equal(pm.running().web, false, 'the record was used up');
    pm.podman('start', 'web');
  });
});

describe('podman guest preset in a real fleet (master + dry-run agent)', { skip: skip ?? false }, () => {
  let pm: PodmanSandbox;
  let fleet: RunningFleet;
  let dir: string;

  before(async () => {
    pm = startPodmanSandbox();
    pm.run('db', GRACEFUL);
    pm.run('web', GRACEFUL);
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-guests-fleet-'));
    fleet = await launchFleet({
      dir,
      groups: [
        {
          name: 'app',
          agents: ['host1'],
          hooks: [
            {
              name: 'stop containers',
              preset: 'podman',
              timeout: '20s',
              forceAfter: '5s',
              order: ['db'],
              restartAfterPower: true,
            },
          ],
        },
      ],
      sequence: [{ groups: ['app'], deadline: '40s', settle: '200ms' }],
      timeline: 'ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 1800\nTIMER 1000000\n',
    });
    await waitForAgents(fleet, 30_000);
  });

  after(async () => {
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await pm?.stop();
  });

  /** host1 in the run /status shows (the drill's, or the outage's once it started). */
  const memberOf = async (drill: boolean) => {
    const status = await fleet.getJson<{ sequence: SequenceView }>('/status');
    if (status.sequence.drill !== drill) return undefined;
    return status.sequence.steps[0]?.members.find((m) => m.id === 'host1');
  };

  it('a drill reports what the preset would stop, and nothing stops', async () => {
    await fleet.admin('/api/drill', {});
    const file = join(dir, 'master', 'state', 'drill-report.json');
    await until('the drill report', () => existsSync(file));
    const report = JSON.parse(readFileSync(file, 'utf8')) as DrillReport;
    const host = report.hosts.find((h) => h.id === 'host1');
    assert.deepEqual(
      host?.hooks.map((h) => [h.name, h.status]),
      [['stop containers', 'ok']],
    );
    assert.deepEqual(
      host?.hooks[0]?.guests?.map((g) => [g.name, g.kind, g.state]),
      [
        ['db', 'container', 'would-stop'],
        ['web', 'container', 'would-stop'],
      ],
    );
    assert.deepEqual(pm.running(), { db: true, web: true });
  });

  it('an outage stops the containers in order, shown per container in /status and the journal', async () => {
    const ran = fleet.journal().length;
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OB DISCHRG LB' });
    await until('the agent to be down (dry-run)', async () => (await memberOf(false))?.state === 'down');
    const member = (await memberOf(false))!;
    const guests = member.hooks[0]?.guests ?? [];
    assert.deepEqual(
      guests.map((g) => [g.name, g.state]),
      [
        ['db', 'stopped'],
        ['web', 'stopped'],
      ],
    );
    assert.ok(guests.every((g) => typeof g.durationMs === 'number'));
    assert.equal(member.hooks[0]?.status, 'ok');
    assert.deepEqual(pm.running(), { db: false, web: false });
    const details = fleet
      .journal()
      .slice(ran)
      .filter((e) => e.kind === 'sequence' && e.event === 'progress')
      .map((e) => String(e.detail));
    const at = (s: string) => details.findIndex((d) => d.includes(s));
    assert.ok(at('container db stopped') >= 0, details.join('\n'));
    assert.ok(at('container db stopped') < at('container web stopping'), 'db was off before web was asked');
  });

  it('power back: the agent starts the containers again once the UPS is on line', async () => {
    assert.deepEqual(pm.running(), { db: false, web: false }, 'nothing starts while on battery');
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OL CHRG' });
    await until('the containers to run again', () => {
      const r = pm.running();
      return r.db === true && r.web === true;
    });
    const stateDir = join(dir, 'agents', 'host1.state');
    // claimed before the first start, removed after the last
    await until('the record to be used up', () => readdirSync(join(stateDir, 'guests')).length === 0);
    assert.equal(listRecords(stateDir).length, 0);
  });
});
