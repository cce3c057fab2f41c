/**
 * ssh2 adds about 14 MiB to a process (master/ssh/ssh-targets.ts): a master without SSH targets never loads
 * it; a master with targets loads it at start, before any order; a master whose ssh2 cannot be loaded says
 * so with SSH_CLIENT_UNAVAILABLE and goes on serving. Real master processes from the sources; Node's own
 * module log (NODE_DEBUG=module) tells whether ssh2 was loaded. The one SSH target points at a loopback
 * port nobody listens on.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshEd25519Line } from '../support/ssh-key-line.js';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'cli/main.ts');
const WITHOUT_PACKAGES = join(ROOT, 'test/support/without-packages.mjs');
const SSH2_LOADED = /load "[^"]*\/node_modules\/ssh2\/lib\/index\.js"/;

/** A loopback port that was free a moment ago and is closed now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface RunningMaster {
  child: ChildProcess;
  out: () => string;
  err: () => string;
}

const started: ChildProcess[] = [];

async function startMaster(dir: string, withTarget: boolean, without?: string): Promise<RunningMaster> {
  const config = join(dir, 'master.yaml');
  const lines = [
    'master: { id: m1, listen: "127.0.0.1:0", stateDir: state, mdns: false }',
    'ups:',
    '  source: { type: simulated, script: "ups.status: OL" }',
    'sequence:',
    '  - groups: [storage]',
    'shutdown: { dryRun: true }',
  ];
  if (withTarget)
    lines.push(
      'sshTargets:',
      `  - { id: nas1, group: storage, address: "127.0.0.1:${await closedPort()}", user: upsfleet, key: id_ed25519, hostKey: "${freshEd25519Line()}" }`,
    );
  writeFileSync(config, lines.join('\n'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', WITHOUT_PACKAGES, CLI, 'master', '-c', config],
    {
      env: { ...process.env, NODE_DEBUG: 'module', UPSFLEET_TEST_WITHOUT: without ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
  });
  const stateFile = join(dir, 'state', 'master.json');
  for (let i = 0; !existsSync(stateFile); i++) {
    assert.ok(i < 600 && child.exitCode === null, `the master did not start:\n${out}\n${err.slice(-2000)}`);
    await sleep(50);
  }
  return { child, out: () => out, err: () => err };
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !check(); await sleep(50))
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
}

describe('the SSH client is loaded only by a master with SSH targets', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'upsfleet-ssh2-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('no SSH targets: ssh2 is never loaded', async () => {
    const m = await startMaster(fresh(), false);
    // a while of running (its first UPS poll, timers) after start
    await sleep(1500);
    assert.equal(m.child.exitCode, null, m.out());
    assert.doesNotMatch(m.err(), SSH2_LOADED);
    // and the module log does name what it did load (the check above can see a load)
    assert.match(m.err(), /load "[^"]*\/node_modules\/ws\/lib\/websocket\.js"/);
    m.child.kill('SIGTERM');
  });

  it('an SSH target: ssh2 is loaded at start, with no order given', async () => {
    const m = await startMaster(fresh(), true);
    await until('ssh2 to load', () => SSH2_LOADED.test(m.err()));
    assert.equal(m.child.exitCode, null, m.out());
    m.child.kill('SIGTERM');
  });

  it('ssh2 missing: SSH_CLIENT_UNAVAILABLE is logged and the master goes on serving', async () => {
    const m = await startMaster(fresh(), true, 'ssh2');
    await until('SSH_CLIENT_UNAVAILABLE in the log', () =>
      m.out().includes('"code":"SSH_CLIENT_UNAVAILABLE"'),
    );
    // the target's probe fails with the same code, and the master is still up and probing
    await until('a probe failure with the code', () =>
      m
        .out()
        .split('\n')
        .some(
          (l) =>
            l.includes('"target":"nas1"') &&
            l.includes('"code":"SSH_CLIENT_UNAVAILABLE"') &&
            l.includes('probe'),
        ),
    );
    assert.equal(m.child.exitCode, null);
    assert.doesNotMatch(m.err(), SSH2_LOADED);
    m.child.kill('SIGTERM');
  });
});
