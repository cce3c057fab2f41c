/**
 * Reconnect storm (issue 10): 10,000 agents connecting at once to a real TLS master process are all
 * accepted and served (welcome, then a state pushed once all are in) in at most 11,000 connection
 * attempts, and again after the master is killed (-9) and started on the same port. The agents are real
 * MasterConnection instances (the agent's own reconnect code and default settings) in worker processes,
 * which count every attempt. Slow: `npm run test:load`. Prints the measured times, attempts and RSS.
 *
 * LOAD_AGENTS and LOAD_WORKERS change the size (e.g. for a quick local run).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keygen } from '../../cli/commands/keygen.js';
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import type { StormReport } from './storm-agents.js';

const AGENTS = Number(process.env.LOAD_AGENTS ?? 10_000);
const WORKERS = Number(process.env.LOAD_WORKERS ?? 2);
const MAX_ATTEMPTS = Math.round(AGENTS * 1.1);
const PHASE_TIMEOUT_MS = 240_000;
const NOFILE = 65_536;

const here = fileURLToPath(import.meta.url);
const WORKER = fileURLToPath(new URL('./storm-agents.ts', import.meta.url));

/** The built CLI (npm run test:load builds first), or the sources with UPSFLEET_CLI_FROM_SOURCE=1. */
function cliArgv(): string[] {
  // while developing: a private build (tsc --outDir elsewhere), so that the master starts as fast as deployed
  if (process.env.LOAD_MASTER_CLI) return process.env.LOAD_MASTER_CLI.split(' ');
  const built = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
  if (process.env.UPSFLEET_CLI_FROM_SOURCE !== '1' && existsSync(built)) return [built];
  return ['--import', 'tsx', fileURLToPath(new URL('../../cli/main.ts', import.meta.url))];
}

/** node with a raised open-files limit (10,000 sockets per process need more than a default 1024). */
function spawnNode(args: string[], opts: { log?: string; pipe?: boolean }): ChildProcess {
  const out = opts.log ? openSync(opts.log, 'a') : 'inherit';
  return spawn(
    'sh',
    [
      '-c',
      `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`,
      'sh',
      process.execPath,
      ...args,
    ],
    {
      stdio: opts.pipe ? ['pipe', 'pipe', 'inherit'] : ['ignore', out, out],
      cwd: join(here, '..', '..', '..'),
    },
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: Math.round(kb('VmRSS') / 1024), peakMiB: Math.round(kb('VmHWM') / 1024) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const children: ChildProcess[] = [];
const root = mkdtempSync(join(tmpdir(), 'upsfleet-load-'));
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

test(`${AGENTS} agents connect at once, and again after a master kill -9 + restart, in ≤ ${MAX_ATTEMPTS} attempts each time`, {
  timeout: 3 * PHASE_TIMEOUT_MS,
}, async () => {
  const dir = join(root, 'fleet');
  mkdirSync(join(dir, 'state'), { recursive: true });
  const { fingerprint } = keygen({
    certFile: join(dir, 'state', 'tls', 'master.crt'),
    keyFile: join(dir, 'state', 'tls', 'master.key'),
    names: [],
    commonName: 'upsfleet load test',
    force: true,
  });
  const adminToken = generateToken();
  const agents = Array.from({ length: AGENTS }, (_, i) => ({
    id: `a${i}`,
    group: `g${i % 4}`,
    token: generateToken(),
  }));
  const port = await freePort();
  const configFile = join(dir, 'master.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      master: {
        id: 'load',
        listen: `127.0.0.1:${port}`,
        stateDir: 'state',
        mdns: false,
        // every agent of this test connects from 127.0.0.1
        limits: { connectionsPerAddress: AGENTS * 2 },
      },
      ups: { name: 'ups', source: { type: 'simulated', script: 'ups.status: OL\nbattery.charge: 100\n' } },
      sequence: [{ groups: ['g0', 'g1'] }, { groups: ['g2', 'g3'] }],
      agents: agents.map((a) => ({ id: a.id, group: a.group, tokenHash: hashToken(a.token) })),
      admins: [{ name: 'load', tokenHash: hashToken(adminToken) }],
      shutdown: { dryRun: true, marker: join(dir, 'master.poweroff') },
      log: { level: 'warn' },
    }),
  );
  const stateFile = join(dir, 'state', 'master.json');
  let starts = 0;
  const startMaster = async (): Promise<{
    child: ChildProcess;
    http: string;
    url: string;
    startMs: number;
  }> => {
    const t = Date.now();
    starts++;
    const child = spawnNode([...cliArgv(), 'master', '-c', configFile], {
      log: join(dir, `master-${starts}.log`),
    });
    children.push(child);
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`master exited (${child.exitCode}); see master-${starts}.log`);
      if (existsSync(stateFile)) {
        const info = JSON.parse(readFileSync(stateFile, 'utf8')) as {
          pid: number;
          http: string;
          url: string;
        };
        // the pid is sh's until exec, then node's: the same process
        if (info.pid === child.pid) return { child, http: info.http, url: info.url, startMs: Date.now() - t };
      }
      if (Date.now() - t > 60_000) throw new Error('master did not start');
      await sleep(20);
    }
  };
  let master = await startMaster();
  const simulate = async (value: string) => {
    const res = await pinnedRequest(`${master.http}/api/simulate`, {
      method: 'POST',
      body: JSON.stringify({ name: 'battery.charge', value }),
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      fingerprints: [fingerprint],
    });
    assert.equal(res.status, 200, res.text);
  };

  // the agents, in worker processes of their own; each prints a report line every 200 ms
  const workers: Array<{ child: ChildProcess; last: StormReport | null }> = [];
  const per = Math.ceil(AGENTS / WORKERS);
  const t0 = Date.now();
  for (let w = 0; w < WORKERS; w++) {
    const setup = join(dir, `agents-${w}.json`);
    writeFileSync(
      setup,
      JSON.stringify({ agents: agents.slice(w * per, (w + 1) * per), url: master.url, fingerprint }),
    );
    const child = spawnNode(['--import', 'tsx', WORKER, setup], { pipe: true });
    children.push(child);
    const entry = { child, last: null as StormReport | null };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      entry.last = JSON.parse(line) as StormReport;
    });
    workers.push(entry);
  }

  const total = async () => {
    for (const w of workers) w.last = null;
    while (workers.some((w) => w.last === null)) {
      const gone = workers.find((w) => w.child.exitCode !== null);
      if (gone) throw new Error(`an agent worker exited (${gone.child.exitCode})`);
      await sleep(20);
    }
    const sum = {
      attempts: 0,
      failures: {} as Record<string, number>,
      welcomed: [0, 0, 0],
      charges: {} as Record<string, number>,
      connected: 0,
    };
    for (const { last } of workers) {
      const r = last!;
      sum.attempts += r.attempts;
      sum.connected += r.connected;
      for (let k = 0; k < 3; k++) sum.welcomed[k]! += r.welcomedAtLeast[k]!;
      for (const [f, n] of Object.entries(r.failures)) sum.failures[f] = (sum.failures[f] ?? 0) + n;
      for (const [c, n] of Object.entries(r.charges)) sum.charges[c] = (sum.charges[c] ?? 0) + n;
    }
    return sum;
  };
  const waitFor = async (what: string, ok: (s: Awaited<ReturnType<typeof total>>) => boolean) => {
    const until = Date.now() + PHASE_TIMEOUT_MS;
    for (;;) {
      const s = await total();
      if (ok(s)) return s;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
      await sleep(250);
    }
  };

  // phase 1: everybody at once
  const welcomed1 = await waitFor('every agent welcomed', (s) => s.welcomed[0] === AGENTS);
  const allIn1 = Date.now() - t0;
  const rss1 = rss(master.child.pid!);
  await simulate('77');
  const served1 = await waitFor('every agent served the pushed state', (s) => s.charges['77'] === AGENTS);
  const phase1 = {
    allWelcomedMs: allIn1,
    allServedMs: Date.now() - t0,
    attempts: served1.attempts,
    attemptsWhenAllIn: welcomed1.attempts,
    failures: served1.failures,
    master: rss1,
  };

  if (process.env.LOAD_PROFILE === '1') {
    // a profiling run (LOAD_MASTER_CLI='--cpu-prof ... main.js'): a graceful stop writes the profile
    master.child.kill('SIGTERM');
    await new Promise((r) => master.child.once('exit', r));
    console.log(JSON.stringify({ phase1 }, null, 2));
    return;
  }

  // phase 2: the master is killed and started again on the same port; every agent reconnects by itself
  master.child.kill('SIGKILL');
  await new Promise((r) => master.child.once('exit', r));
  const t1 = Date.now();
  master = await startMaster();
  const welcomed2 = await waitFor('every agent welcomed again', (s) => s.welcomed[1] === AGENTS);
  const allIn2 = Date.now() - t1;
  const rss2 = rss(master.child.pid!);
  await simulate('55');
  const served2 = await waitFor('every agent served again', (s) => s.charges['55'] === AGENTS);
  const failures2: Record<string, number> = {};
  for (const [f, n] of Object.entries(served2.failures)) {
    const d = n - (served1.failures[f] ?? 0);
    if (d > 0) failures2[f] = d;
  }
  const phase2 = {
    masterStartMs: master.startMs,
    allWelcomedMs: allIn2,
    allServedMs: Date.now() - t1,
    attempts: served2.attempts - served1.attempts,
    attemptsWhenAllIn: welcomed2.attempts - served1.attempts,
    failures: failures2,
    master: rss2,
  };
  console.log(JSON.stringify({ agents: AGENTS, workers: WORKERS, phase1, phase2 }, null, 2));
  assert.ok(
    phase1.attempts <= MAX_ATTEMPTS,
    `first connect: ${phase1.attempts} attempts (at most ${MAX_ATTEMPTS})`,
  );
  assert.ok(
    phase2.attempts <= MAX_ATTEMPTS,
    `after the restart: ${phase2.attempts} attempts (at most ${MAX_ATTEMPTS})`,
  );
});
