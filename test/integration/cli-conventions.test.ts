/**
 * CLI conventions (issue 12): --help on every command before it parses anything, `status --master URL`,
 * `status -c FILE` taking the URL and pinned fingerprint from a master or an agent configuration (against a
 * real TLS master on 127.0.0.1), `status ups@host VAR` like upsc, output into a closed pipe (`| head`) ends
 * quietly, the one-file agent's `config check`, and the bash completion working in a real bash.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_SPECS } from '../../cli/command-specs.js';
import { COMMAND_NAMES, main } from '../../cli/dispatch.js';
import { bashCompletion } from '../../cli/docs/bash-completion.js';
import { Master } from '../../master/master.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { silentLogger } from '../../shared/logger.js';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'cli/main.ts');
const AGENT = join(ROOT, 'agent/main.ts');

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', file, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function inProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('CLI conventions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-conventions-'));
  let master: Master;
  let port = 0;
  let nutPort = 0;
  let fingerprint = '';

  before(async () => {
    const boot = join(dir, 'boot.yaml');
    const body = (listen: string) =>
      [
        `master: { id: conv, listen: "${listen}", stateDir: state }`,
        'ups:',
        '  name: myups',
        '  source: { type: simulated, script: "ups.status: OL CHRG\\nbattery.charge: 97" }',
        'nut: { listen: "127.0.0.1:0" }',
        'sequence: []',
        'shutdown: { dryRun: true }',
      ].join('\n');
    writeFileSync(boot, body('127.0.0.1:0'));
    const keygen = await inProcess(['keygen', '-c', boot]);
    assert.equal(keygen.code, 0, keygen.stderr);
    fingerprint = /sha256:[0-9a-f]{64}/.exec(keygen.stdout)?.[0] ?? '';
    master = new Master(loadMasterSettings(boot), { logger: silentLogger() });
    port = (await master.start()).port;
    nutPort = master.nutAddress?.port ?? 0;
    // what the host's /etc/upsfleet/master.yaml says once the master listens on its real port
    writeFileSync(join(dir, 'master.yaml'), body(`0.0.0.0:${port}`));
    writeFileSync(join(dir, 'agent.token'), 'an-agent-token-0123456789', { mode: 0o600 });
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        'agent: { id: a1, group: app, tokenFile: agent.token, stateDir: agent-state }',
        `master: { urls: ["wss://127.0.0.1:${port}/ws"], fingerprint: "${fingerprint}" }`,
      ].join('\n'),
    );
  });

  after(async () => {
    await master?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every command has its entry in the command table, and the table names no command that does not exist', () => {
    assert.deepEqual([...COMMAND_NAMES].sort(), COMMAND_SPECS.map((c) => c.name).sort());
  });

  it('--help and -h on every command print its usage and options and exit 0, wherever they stand', async () => {
    for (const name of COMMAND_NAMES) {
      for (const argv of [
        [name, '--help'],
        [name, 'x', '-h'],
        ['help', name],
      ]) {
        const r = await inProcess(argv);
        assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: upsfleet ${name}`), argv.join(' '));
        assert.match(r.stdout, /\n {2}-h, --help {2,}this help\n/);
      }
    }
    // the bug: config check read a file named --help
    const r = await inProcess(['config', 'check', '--help']);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /--against RUNNING/);
    // after `--` it is an argument again
    assert.notEqual((await inProcess(['config', 'check', '--', '--help'])).code, 0);
  });

  it('status --master URL (and -m) with --fingerprint reads a TLS master', async () => {
    for (const flag of ['--master', '-m']) {
      const r = await run(CLI, ['status', flag, `https://127.0.0.1:${port}`, '--fingerprint', fingerprint]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ups\.status: OL CHRG$/m);
    }
    // without the pin the self-signed certificate is refused
    assert.equal((await run(CLI, ['status', '--master', `https://127.0.0.1:${port}`])).code, 4);
    // two masters named: a usage error, not a guess
    assert.equal((await run(CLI, ['status', '--master', 'http://a:1', 'http://b:2'])).code, 2);
  });

  it('status -c FILE: the master config gives its listen address (wildcard -> loopback) and its certificate pin', async () => {
    const r = await run(CLI, ['status', '-c', join(dir, 'master.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^battery\.charge: 97$/m);
    assert.match(r.stdout, /policy: normal/);
  });

  it("plain status on the master host reads the host's master config (UPSFLEET_MASTER_CONFIG here)", async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', CLI, 'status'],
        {
          encoding: 'utf8',
          timeout: 30_000,
          env: { ...process.env, UPSFLEET_MASTER_CONFIG: join(dir, 'master.yaml') },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ups\.status: OL CHRG$/m);
  });

  it("plain plan on the master host reads the host's master config too (TLS, its fingerprint pinned)", async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', CLI, 'plan', '--json'],
        {
          encoding: 'utf8',
          timeout: 30_000,
          env: { ...process.env, UPSFLEET_MASTER_CONFIG: join(dir, 'master.yaml'), UPSFLEET_FINGERPRINT: '' },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok('steps' in (JSON.parse(r.stdout) as object), r.stdout);
  });

  it("status -c FILE: an agent config gives its master's URL and pinned fingerprint", async () => {
    const r = await run(CLI, ['status', '--json', '-c', join(dir, 'agent.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      (JSON.parse(r.stdout) as { ups: { vars: Record<string, string> } }).ups.vars['ups.status'],
      'OL CHRG',
    );
  });

  it('status ups@host:port VARIABLE prints the bare value as upsc does; an unknown variable is an error', async () => {
    const r = await run(CLI, ['status', `myups@127.0.0.1:${nutPort}`, 'battery.charge']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '97\n');
    const missing = await run(CLI, ['status', `myups@127.0.0.1:${nutPort}`, 'no.such.var']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error: Variable not supported by UPS\n');
    const all = await run(CLI, ['status', `myups@127.0.0.1:${nutPort}`]);
    assert.match(all.stdout, /^ups\.status: OL CHRG$/m);
  });

  it('output into a pipe whose reader is gone (| head, | true) ends quietly with exit 0, no EPIPE trace', async () => {
    // `true` exits at once: every write of the CLI meets a closed pipe (async: the master in this process answers)
    for (const args of [['--help'], ['completion', 'bash'], ['status', '-c', join(dir, 'master.yaml')]]) {
      const quoted = args.map((a) => `'${a}'`).join(' ');
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(
          'bash',
          ['-c', `"${process.execPath}" --import tsx "${CLI}" ${quoted} | true; exit "\${PIPESTATUS[0]}"`],
          { encoding: 'utf8', cwd: ROOT, timeout: 30_000 },
          (err, _stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stderr }),
        );
      });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /EPIPE|Unhandled/);
    }
  });

  it('the one-file agent checks a config: valid (exit 0), invalid with file:line:column (exit 3), --help', async () => {
    const good = await run(AGENT, ['config', 'check', join(dir, 'agent.yaml')]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /agent\.yaml: valid agent configuration/);
    const badFile = join(dir, 'bad-agent.yaml');
    writeFileSync(badFile, 'agent: { id: a1 }\n');
    const bad = await run(AGENT, ['config', 'check', badFile]);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /bad-agent\.yaml:1:8: \/agent is missing required setting "group"/);
    const help = await run(AGENT, ['config', 'check', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /upsfleet-agent config check FILE/);
  });

  it('bash completion in a real bash: commands, sub-commands, options, and files after -c', (t) => {
    if (spawnSync('sh', ['-c', 'command -v bash']).status !== 0) {
      t.skip('bash not installed');
      return;
    }
    const script = join(dir, 'completion.bash');
    writeFileSync(script, bashCompletion());
    const complete = (words: string[]) => {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `source "${script}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _upsfleet; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8', cwd: dir },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(complete(['upsfleet', 'st']), ['status']);
    assert.deepEqual(complete(['upsfleet', 'config', '']), ['check']);
    assert.deepEqual(complete(['upsfleet', 'status', '--m']), ['--master']);
    assert.deepEqual(complete(['upsfleet', 'status', '-c', 'mas']), ['master.yaml']);
    assert.deepEqual(complete(['upsfleet', 'token', '']), ['add', 'hash', 'list', 'new', 'revoke']);
  });
});
