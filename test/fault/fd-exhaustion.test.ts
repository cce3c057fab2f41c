/**
 * The master at its file-descriptor limit (issue 14): a real master process under `prlimit --nofile=128`,
 * a real agent connected and a NUT client logged in, then a hoard of idle connections to the main (TLS)
 * port and the NUT port until the master refuses more. The master must stay up (same pid), keep serving
 * the agent and the NUT client it already has, refuse new connections with a few FD_EXHAUSTED log lines
 * (not one per connection), count the refusals in /status, and take new clients again once the hoard
 * closes. And the mDNS advertiser through real exhaustion (test/support/advertise-at-fd-limit.ts): its
 * interface scan and socket fail with EMFILE, which is logged and retried, never an uncaught exception;
 * and a journal write at the limit, kept and retried as on a full disk (test/support/journal-at-fd-limit.ts).
 * Everything on 127.0.0.1; only the processes this file starts are signalled, by pid.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';

const FD_LIMIT = 128;
/** Well past what 128 descriptors can hold: the hoard stops as soon as both ports refuse. */
const MAX_HOARD = 400;

type Entry = Record<string, unknown>;

function nutPort(fleet: RunningFleet): number {
  const info = JSON.parse(readFileSync(join(fleet.dir, 'master', 'state', 'master.json'), 'utf8')) as {
    nut?: string;
  };
  assert.ok(info.nut, 'master.json has no nut address');
  return Number(info.nut.slice(info.nut.lastIndexOf(':') + 1));
}

function masterLog(fleet: RunningFleet): Entry[] {
  return jsonLines(readFileSync(join(fleet.dir, 'logs', 'master.log'), 'utf8'));
}

function jsonLines(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Entry);
    } catch {
      // a line cut by the process's end: not ours to judge
    }
  }
  return out;
}

/**
 * Opens one connection; resolves 'open' when it is still up after `settleMs`, 'refused' when the master
 * closed (or reset) it first. The socket is kept either way.
 */
function probe(port: number, settleMs: number): Promise<{ socket: Socket; outcome: 'open' | 'refused' }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.setNoDelay(true);
    let timer: NodeJS.Timeout | undefined;
    socket.once('connect', () => {
      timer = setTimeout(() => resolve({ socket, outcome: 'open' }), settleMs);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ socket, outcome: 'refused' });
    });
  });
}

/** A line-oriented NUT conversation on one socket: sends a command, resolves with the first reply line. */
function nutLine(s: Socket, command: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => done(new Error(`no reply to ${command} within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(null, buf.slice(0, nl));
    };
    const onClose = () => done(new Error(`connection closed before the reply to ${command}`));
    const done = (err: Error | null, line?: string) => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('close', onClose);
      if (err) reject(err);
      else resolve(line!);
    };
    s.on('data', onData);
    s.once('close', onClose);
    s.write(`${command}\n`);
  });
}

function openNut(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** dist/upsfleet.cjs, built first when this file runs without `npm test` having built it. */
function bundle(): string {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const file = join(root, 'dist', 'upsfleet.cjs');
  if (!existsSync(file)) {
    const b = spawnSync(process.execPath, [join(root, 'scripts', 'build-bundles.mjs')], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(b.status, 0, b.stderr);
  }
  return file;
}

describe('fd exhaustion (real master under prlimit --nofile=128)', () => {
  let dir: string;
  let fleet: RunningFleet;
  const hoard: Socket[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-fd-'));
    fleet = await launchFleet({
      dir,
      groups: [{ name: 'app', agents: ['app1'] }],
      sequence: [{ groups: ['app'], deadline: '20s' }],
      timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
      masterExtra: {
        master: {
          id: 'master',
          listen: '127.0.0.1:0',
          stateDir: 'state',
          pingInterval: '2s',
          mdns: false,
          // every connection here comes from 127.0.0.1: the per-address limits are not what is tested
          limits: { connectionsPerAddress: 1000 },
        },
        nut: {
          listen: '127.0.0.1:0',
          maxConnections: 1000,
          maxConnectionsPerAddress: 1000,
          users: [{ name: 'mon', password: 'mon-pass', upsmon: 'secondary' }],
        },
      },
      wrap: (who) => (who === 'master' ? ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--'] : []),
      // the one-file CLI, as deployed: dist/'s ES modules load as a graph whose concurrent opens alone pass
      // 128 descriptors (the master died of EMFILE at start-up before any connection)
      masterBundle: bundle(),
    });
    await waitForAgents(fleet, 20_000);
  });

  after(async () => {
    for (const s of hoard) s.destroy();
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('refuses new connections with a few FD_EXHAUSTED lines, keeps serving, recovers', {
    timeout: 60_000,
  }, async () => {
    const pid = fleet.master.pid!;
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    assert.match(limits, new RegExp(`^Max open files\\s+${FD_LIMIT}\\s+${FD_LIMIT}`, 'm'));
    const mainPort = Number(new URL(fleet.httpUrl).port);
    const nut = nutPort(fleet);

    // a NUT client logged in before the flood
    const mon = await openNut(nut);
    assert.equal(await nutLine(mon, 'USERNAME mon'), 'OK');
    assert.equal(await nutLine(mon, 'PASSWORD mon-pass'), 'OK');
    assert.equal(await nutLine(mon, 'LOGIN ups'), 'OK');

    // the hoard: idle connections to both ports until both refuse
    const refused = { main: 0, nut: 0 };
    while (hoard.length < MAX_HOARD && (refused.main < 3 || refused.nut < 3)) {
      const batch = await Promise.all([
        ...Array.from({ length: 5 }, () =>
          probe(mainPort, 300).then((r) => ({ ...r, port: 'main' as const })),
        ),
        ...Array.from({ length: 5 }, () => probe(nut, 300).then((r) => ({ ...r, port: 'nut' as const }))),
      ]);
      for (const r of batch) {
        hoard.push(r.socket);
        if (r.outcome === 'refused') refused[r.port]++;
      }
    }
    assert.ok(refused.main >= 3 && refused.nut >= 3, `both ports refuse: ${JSON.stringify(refused)}`);
    assert.ok(hoard.length < MAX_HOARD, `refused after ${hoard.length} connections`);

    // while exhausted (a ping cycle of the agent's link passes): the master is alive and serves what it has
    await sleep(2_500);
    assert.ok(existsSync(`/proc/${pid}`), 'the master process is gone');
    assert.equal(fleet.master.exitCode, null, 'the master exited');
    assert.equal(fleet.master.signalCode, null, 'the master was killed');
    assert.match(await nutLine(mon, 'GET VAR ups ups.status'), /^VAR ups ups\.status "OL"$/);
    const still = await probe(nut, 300);
    hoard.push(still.socket);
    assert.equal(still.outcome, 'refused', 'a new NUT client is still refused while the hoard holds');

    const exhausted = masterLog(fleet).filter((e) => e.code === 'FD_EXHAUSTED');
    assert.ok(exhausted.length >= 2, `FD_EXHAUSTED logged for each port: ${exhausted.length} lines`);
    assert.ok(exhausted.length <= 6, `FD_EXHAUSTED logged ${exhausted.length} times: not rate-limited`);
    const modules = new Set(exhausted.map((e) => e.module));
    assert.ok(modules.has('http') && modules.has('nut-server'), `both listeners: ${[...modules].join(', ')}`);

    // the hoard lets go: new clients are taken again
    for (const s of hoard.splice(0)) s.destroy();
    await sleep(500);
    const fresh = await openNut(nut);
    assert.match(await nutLine(fresh, 'VER'), /upsfleet|Network UPS Tools/i);
    fresh.destroy();
    const status = await fleet.getJson<{
      main: { refused: Record<string, number> };
      nut: { refused: Record<string, number> };
      agents: Array<{ id: string; connected: boolean; address: string | null }>;
    }>('/status');
    assert.ok((status.main.refused['fd-exhausted'] ?? 0) >= refused.main, JSON.stringify(status.main));
    assert.ok((status.nut.refused['fd-exhausted'] ?? 0) >= refused.nut, JSON.stringify(status.nut));
    assert.equal(status.agents.find((a) => a.id === 'app1')?.connected, true, 'app1 is connected');
    // the agent kept its one connection throughout: one connect, no disconnect
    const app1 = masterLog(fleet).filter((e) => e.agentId === 'app1');
    assert.equal(app1.filter((e) => e.group === 'app').length, 1, 'app1 connected once');
    assert.equal(
      app1.filter((e) => e.group === undefined && e.address !== undefined).length,
      0,
      'app1 never left',
    );
    mon.destroy();
  });
});

/** A UDP port free right now on 127.0.0.1 (for the advertiser's mDNS socket: never 5353 on this machine). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs a support script under `prlimit --nofile=256` (room for loading modules); its exit code, stdout, stderr. */
async function runAtFdLimit(
  script: string,
  args: string[],
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(
    'prlimit',
    [
      '--nofile=256:256',
      '--',
      process.execPath,
      '--import',
      'tsx',
      fileURLToPath(new URL(script, import.meta.url)),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, out, err };
}

test('mDNS advertising through fd exhaustion: EMFILE logged a few times and retried, no crash', {
  timeout: 45_000,
}, async () => {
  // the script takes every descriptor left itself
  const { code, out, err } = await runAtFdLimit('../support/advertise-at-fd-limit.ts', [
    String(await freeUdpPort()),
  ]);
  assert.equal(code, 0, `the advertiser process failed:\n${err.slice(-3000)}`);
  const lines = jsonLines(out);
  assert.ok(
    lines.some((e) => e.phase === 'exhausted' && e.errno === 'EMFILE'),
    'the script reached EMFILE',
  );
  const failures = lines.filter((e) => e.code === 'FD_EXHAUSTED');
  const kinds = new Set(failures.map((e) => `${e.module}:${e.refusal}`));
  // the running advertiser's 5-second interface scan, and a new one's UDP socket
  assert.ok(kinds.has('first:mdns-interfaces'), `scan failure logged: ${[...kinds].join(', ')}`);
  assert.ok(kinds.has('second:mdns-socket'), `socket failure logged: ${[...kinds].join(', ')}`);
  assert.ok(failures.length <= 6, `${failures.length} FD_EXHAUSTED lines: not rate-limited`);
  // both came back once descriptors were free again
  const released = lines.findIndex((e) => e.phase === 'released');
  const after = lines.slice(released);
  assert.ok(
    after.some((e) => e.module === 'first' && e.where === 'interfaces' && e.level === 30),
    'scan works again',
  );
  assert.ok(
    after.some((e) => e.module === 'second' && typeof e.restarts === 'number'),
    'second advertises again',
  );
});

test('a journal write at the fd limit is kept, logged once and written when descriptors are back', {
  timeout: 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-fd-journal-'));
  try {
    const file = join(dir, 'journal.jsonl');
    const { code, out, err } = await runAtFdLimit('../support/journal-at-fd-limit.ts', [file]);
    assert.equal(code, 0, `the journal process failed:\n${err.slice(-3000)}`);
    const lines = jsonLines(out);
    assert.ok(
      lines.some((e) => e.phase === 'exhausted' && e.errno === 'EMFILE'),
      'the script reached EMFILE',
    );
    type St = { ok: boolean; error: { code: string } | null; pending: number };
    const during = lines.find((e) => e.phase === 'after-write') as { status: St; state: number } | undefined;
    assert.equal(during?.status.ok, false);
    assert.equal(during?.status.error?.code, 'EMFILE');
    assert.equal(during?.status.pending, 1);
    assert.equal(during?.state, 1, 'the decision is known in memory');
    const loud = lines.filter((e) => e.code === 'JOURNAL_WRITE_FAILED');
    assert.equal(loud.length, 1, 'one loud error');
    assert.equal(loud[0]!.errno, 'EMFILE');
    const released = lines.find((e) => e.phase === 'released') as { status: St } | undefined;
    assert.equal(released?.status.ok, true);
    assert.equal(released?.status.pending, 0);
    assert.match(readFileSync(file, 'utf8'), /written at the fd limit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
