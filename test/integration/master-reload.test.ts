/**
 * SIGHUP on a real master process with two agents: the config is read again, tokens, log level and notify
 * apply live, a sequence change is logged as needing a restart, and the process never ends. A config
 * with a YAML error is logged with its line and the running config stays.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';

type LogLine = Record<string, unknown> & { level: number; msg: string };
// biome-ignore lint/suspicious/noExplicitAny: the master's config is edited as plain JSON
type Config = Record<string, any>;

function logLines(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  const out: LogLine[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line still being written
    }
  }
  return out;
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('master reload on SIGHUP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-reload-'));
  const log = join(dir, 'logs', 'master.log');
  const notified = join(dir, 'notified.txt');
  const oncallToken = generateToken();
  let fleet: RunningFleet;

  const alive = () => fleet.master.exitCode === null && fleet.master.signalCode === null;
  const simulate = (token: string, value: string) =>
    pinnedRequest(`${fleet.httpUrl}/api/simulate`, {
      method: 'POST',
      body: JSON.stringify({ name: 'ups.status', value }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
  const editConfig = (edit: (c: Config) => void) => {
    const config = JSON.parse(readFileSync(fleet.masterConfig, 'utf8')) as Config;
    edit(config);
    writeFileSync(fleet.masterConfig, `${JSON.stringify(config, null, 2)}\n`);
  };

  before(async () => {
    fleet = await launchFleet({
      dir,
      insecure: true,
      groups: [{ name: 'app', agents: ['app1', 'app2'] }],
      sequence: [{ groups: ['app'], deadline: '2m' }],
      timeline: 'ups.status: OL CHRG\nbattery.charge: 100\n',
      logLevel: 'info',
    });
    await waitForAgents(fleet, 20_000);
  });

  after(async () => {
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies tokens, log level and notify live, names what needs a restart, and stays up', async () => {
    assert.equal(
      (await simulate(oncallToken, 'OL')).status,
      401,
      'the new admin is unknown before the reload',
    );
    editConfig((c) => {
      c.log.level = 'debug';
      c.admins.push({ name: 'oncall', tokenHash: hashToken(oncallToken) });
      c.sequence[0].deadline = '3m';
      c.notify = { command: ['sh', '-c', `echo "$UPSFLEET_EVENT" >> '${notified}'`] };
    });
    const before = logLines(log).length;
    fleet.master.kill('SIGHUP');

    const reloaded = await waitFor(
      () => logLines(log).find((l, i) => i >= before && l.msg === 'config reloaded'),
      'the reload line',
    );
    assert.deepEqual(reloaded.applied, ['/admins', '/notify/command', '/log/level']);
    const restart = logLines(log).find((l) => Array.isArray(l.restartNeeded));
    assert.equal(restart?.level, 40);
    assert.deepEqual(restart?.restartNeeded, ['/sequence/0/deadline']);
    assert.ok(alive(), 'the master is still running');

    // the new admin token works; its simulated outage reaches the reloaded notify command
    const onBattery = await simulate(oncallToken, 'OB DISCHRG');
    assert.equal(onBattery.status, 200, onBattery.text);
    await waitFor(
      () => (existsSync(notified) && readFileSync(notified, 'utf8').includes('ONBATT') ? true : undefined),
      'the notify command to run on ONBATT',
    );
    // debug lines now, from child loggers made at start; none before the reload
    const lines = logLines(log);
    const reloadAt = lines.findIndex((l) => l.msg === 'config reloaded');
    assert.ok(!lines.slice(0, reloadAt).some((l) => l.level === 20), 'no debug line before the reload');
    await waitFor(
      () => logLines(log).find((l, i) => i > reloadAt && l.level === 20 && typeof l.module === 'string'),
      'a debug line from a module logger',
    );
    assert.equal((await simulate(oncallToken, 'OL CHRG')).status, 200);

    // the agents stayed connected through the reload (their tokens were merged again, not dropped)
    const status = await fleet.getJson<{ agents: Array<{ id: string; connected: boolean }> }>('/status');
    assert.deepEqual(
      status.agents
        .filter((a) => a.connected)
        .map((a) => a.id)
        .sort(),
      ['app1', 'app2'],
    );
    assert.ok(alive());
  });

  it('a config with a YAML error: the error is logged with its line, the running config stays', async () => {
    const text = readFileSync(fleet.masterConfig, 'utf8').split('\n');
    const at = text.findIndex((l) => l.includes('"deadline"'));
    text[at] = `${text[at]} "oops"`;
    writeFileSync(fleet.masterConfig, text.join('\n'));
    const before = logLines(log).length;
    fleet.master.kill('SIGHUP');

    const refused = await waitFor(
      () => logLines(log).find((l, i) => i >= before && l.level === 50 && Array.isArray(l.problems)),
      'the reload error',
    );
    assert.equal(refused.code, 'CONFIG_SYNTAX');
    assert.equal(refused.file, fleet.masterConfig);
    const problems = refused.problems as Array<{ file: string; line: number; column: number }>;
    assert.equal(problems[0]?.line, at + 1);
    assert.equal(problems[0]?.file, fleet.masterConfig);
    assert.ok(problems[0]!.column > 0);

    // still up, still with the reloaded admin and level
    assert.equal((await simulate(oncallToken, 'OL CHRG')).status, 200);
    assert.ok(alive(), 'the master is still running');
    assert.ok(
      !logLines(log).some((l, i) => i >= before && l.msg === 'config reloaded'),
      'nothing reloaded from a broken file',
    );
  });
});
