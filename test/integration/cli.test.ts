/** The upsfleet CLI as a user runs it: a real process against a real master on 127.0.0.1. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Master } from '../../master/master.js';
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { parseMasterSettings } from '../../shared/config/master-settings.js';
import { silentLogger } from '../../shared/logger.js';

const CLI = join(import.meta.dirname, '../../cli/main.ts');

/** Async on purpose: the master under test lives in this process and must keep answering. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('upsfleet CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-cli-'));
  const adminToken = generateToken();
  let master: Master;
  let http = '';

  before(async () => {
    const settings = parseMasterSettings(
      [
        'master: { id: cli-test, listen: "127.0.0.1:0", stateDir: state }',
        'ups:',
        '  source: { type: simulated, script: "ups.status: OL CHRG\\nbattery.charge: 97" }',
        'sequence: [ { groups: [app] } ]',
        `agents: [ { id: web1, group: app, tokenHash: "${hashToken(generateToken())}" } ]`,
        `admins: [ { name: ops, tokenHash: "${hashToken(adminToken)}" } ]`,
        'shutdown: { dryRun: true }',
      ].join('\n'),
      join(dir, 'master.yaml'),
    );
    master = new Master(settings, { logger: silentLogger() });
    const addr = await master.start();
    http = `http://127.0.0.1:${addr.port}`;
  });

  after(async () => {
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints its version and help, and exits 2 on an unknown command', async () => {
    assert.match((await cli(['--version'])).stdout, /^\d+\.\d+\.\d+\n$/);
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /exit codes: 0 ok/);
    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  it('config check reports every problem with file:line:column and exits 3', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'master:\n  id: m1\n  listen: nowhere\nups:\n  source: { type: simulated }\nsequence: []\npolicy:\n  deadtime: soon\n',
    );
    const r = await cli(['config', 'check', bad]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`${bad}:3:11: /master/listen must match pattern`));
    assert.match(r.stderr, new RegExp(`${bad}:8:13: /policy/deadtime must be seconds`));
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'master: { id: m1 }\nups:\n  source: { type: simulated }\nsequence: []\n');
    assert.equal((await cli(['config', 'check', good])).code, 0);
  });

  it('config check --help prints its usage instead of reading a file named --help', async () => {
    for (const args of [
      ['config', 'check', '--help'],
      ['config', '--help'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^usage: upsfleet config check FILE \[--against RUNNING\]/);
      assert.doesNotMatch(r.stderr, /cannot read/);
    }
    assert.equal((await cli(['config', 'check'])).code, 2);
  });

  it('config check --against says what a reload applies and what needs a restart', async () => {
    const running = join(dir, 'running.yaml');
    const base = [
      'master: { id: m1, stateDir: state }',
      'ups:',
      '  source: { type: simulated }',
      'sequence: [ { groups: [app], deadline: 2m } ]',
      'log: { level: info }',
    ];
    writeFileSync(running, `${base.join('\n')}\n`);
    // the candidate lives elsewhere: its relative stateDir counts from the running config's directory
    const elsewhere = mkdtempSync(join(tmpdir(), 'upsfleet-cli-next-'));
    const next = join(elsewhere, 'next.yaml');
    writeFileSync(
      next,
      `${base
        .join('\n')
        .replace('deadline: 2m', 'deadline: 3m')
        .replace(
          'level: info',
          'level: debug',
        )}\nadmins: [ { name: ops, tokenHash: "${hashToken(adminToken)}" } ]\n`,
    );
    try {
      const r = await cli(['config', 'check', next, '--against', running]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        [
          `${next}: valid master configuration`,
          `compared with ${running}:`,
          '  applied by a reload (kill -HUP):',
          '    /admins',
          '    /log/level',
          '  need a restart:',
          '    /sequence/0/deadline',
          '',
        ].join('\n'),
      );
      const same = await cli(['config', 'check', running, '--against', running]);
      assert.match(same.stdout, /^ {2}no changes$/m);
      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, 'master: { id: m1\n');
      const refused = await cli(['config', 'check', running, '--against', broken]);
      assert.equal(refused.code, 3);
      assert.match(refused.stderr, new RegExp(`${broken}:\\d+:\\d+: `));
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('status prints upsc-style variables, the policy and the fleet table', async () => {
    const r = await cli(['status', http]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^battery\.charge: 97$/m);
    assert.match(r.stdout, /^ups\.status: OL CHRG$/m);
    assert.match(r.stdout, /^GROUP\s+AGENT\s+KIND\s+CONNECTED/m);
    assert.match(r.stdout, /^app\s+web1\s+agent\s+no\s+never/m);
    const json = JSON.parse((await cli(['status', '--json', http])).stdout) as {
      ups: { vars: Record<string, string> };
    };
    assert.equal(json.ups.vars['battery.charge'], '97');
  });

  it('status says when the master cannot be reached (exit 4)', async () => {
    const r = await cli(['status', 'http://127.0.0.1:1']);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /cannot read the master's status at http:\/\/127\.0\.0\.1:1/);
  });

  it('simulate changes the UPS live for an admin and is refused without the admin token', async () => {
    const refused = await cli([
      'simulate',
      '--master',
      http,
      '--token',
      'wrong-token',
      'set',
      'ups.status',
      'OB DISCHRG',
    ]);
    assert.equal(refused.code, 6);
    assert.equal(master.hub.snapshot().vars['ups.status'], 'OL CHRG');
    const ok = await cli([
      'simulate',
      '--master',
      http,
      '--token',
      adminToken,
      'set',
      'ups.status',
      'OB DISCHRG',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(master.hub.snapshot().vars['ups.status'], 'OB DISCHRG');
  });
});
