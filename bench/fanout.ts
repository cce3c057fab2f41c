/**
 * `npm run bench`: fan-out latency from a state change at the master to every agent having received and
 * validated it, for 100 and 1,000 connected agents; the master's RSS; and the gap between a step's last
 * confirmation and the next step's first order. The master is a real `upsfleet master` process; the agents
 * are light in-process protocol clients over TLS (wss), as deployed. Prints a table and writes bench/results/fanout.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keygen } from '../cli/commands/keygen.js';
import { generateToken, hashToken } from '../shared/auth/token.js';
import { pinnedRequest } from '../shared/tls/pinned-request.js';
import { LightAgent } from './light-agent.js';
import { measureStepGaps } from './step-gaps.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);

export interface MasterUnderTest {
  dir: string;
  process: ChildProcess;
  http: string;
  ws: string;
  adminToken: string;
  tokens: Map<string, string>;
  fingerprint: string;
  certPem: string;
  stop(): Promise<void>;
}

export async function startMaster(
  agents: Array<{ id: string; group: string }>,
  sequence: Array<{ groups: string[]; deadline?: string; settle?: string }>,
): Promise<MasterUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-bench-'));
  const adminToken = generateToken();
  const tokens = new Map(agents.map((a) => [a.id, generateToken()]));
  // the default deployment: TLS with the master's own certificate (agents verify it against that certificate)
  const tls = keygen({
    certFile: join(dir, 'state', 'tls', 'master.crt'),
    keyFile: join(dir, 'state', 'tls', 'master.key'),
    names: ['127.0.0.1'],
    commonName: 'upsfleet bench',
    force: true,
  });
  const config = {
    master: {
      id: 'bench',
      listen: '127.0.0.1:0',
      stateDir: 'state',
      pingInterval: '30s',
      mdns: false,
      // every light agent connects from 127.0.0.1
      limits: { connectionsPerAddress: 5000 },
    },
    ups: { source: { type: 'simulated', script: 'ups.status: OL\nbattery.charge: 100\n' } },
    policy: { debounce: 0 },
    sequence,
    agents: agents.map((a) => ({ id: a.id, group: a.group, tokenHash: hashToken(tokens.get(a.id)!) })),
    admins: [{ name: 'bench', tokenHash: hashToken(adminToken) }],
    shutdown: { dryRun: true },
    log: { level: 'warn' },
  };
  writeFileSync(join(dir, 'master.yaml'), JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, 'master', '-c', join(dir, 'master.yaml')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // a benchmark that fails half-way must not leave its master running
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const stateFile = join(dir, 'state', 'master.json');
  for (let i = 0; !existsSync(stateFile); i++) {
    if (i > 400 || child.exitCode !== null) throw new Error('master did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 50));
  const info = JSON.parse(readFileSync(stateFile, 'utf8')) as { url: string; http: string };
  return {
    dir,
    process: child,
    fingerprint: tls.fingerprint,
    certPem: readFileSync(join(dir, 'state', 'tls', 'master.crt'), 'utf8'),
    http: info.http,
    ws: info.url,
    adminToken,
    tokens,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function admin(m: MasterUnderTest, path: string, body: unknown): Promise<void> {
  const res = await pinnedRequest(`${m.http}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${m.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    fingerprints: [m.fingerprint],
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function connectAll(
  m: MasterUnderTest,
  agents: Array<{ id: string; group: string }>,
  onState: (id: string, charge: string, at: number) => void,
) {
  const clients: LightAgent[] = [];
  for (let i = 0; i < agents.length; i += 100) {
    const batch = agents.slice(i, i + 100).map(
      (a) =>
        new LightAgent({
          url: m.ws,
          ca: m.certPem,
          id: a.id,
          group: a.group,
          token: m.tokens.get(a.id)!,
          onMessage: (msg, at) => {
            if (msg.type === 'state') onState(a.id, msg.vars['battery.charge'] ?? '', at);
          },
        }),
    );
    await Promise.all(batch.map((c) => c.connect()));
    clients.push(...batch);
  }
  return clients;
}

async function fanout(n: number) {
  const agents = Array.from({ length: n }, (_, i) => ({ id: `agent-${i}`, group: `g${i % 5}` }));
  const m = await startMaster(agents, [{ groups: ['g0', 'g1', 'g2', 'g3', 'g4'] }]);
  let expected = '';
  let received = 0;
  let t0 = 0;
  let done: (() => void) | null = null;
  const latencies: number[] = [];
  const roundMax: number[] = [];
  let roundWorst = 0;
  const clients = await connectAll(m, agents, (_id, charge, at) => {
    if (charge !== expected) return;
    const l = at - t0;
    latencies.push(l);
    roundWorst = Math.max(roundWorst, l);
    if (++received === n) done?.();
  });
  const rssConnected = rssMiB(m.process.pid!);
  for (let r = 0; r < ROUNDS; r++) {
    expected = String(99 - (r % 50));
    received = 0;
    roundWorst = 0;
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    t0 = performance.timeOrigin + performance.now();
    await admin(m, '/api/simulate', { name: 'battery.charge', value: expected });
    await all;
    roundMax.push(roundWorst);
    await new Promise((res) => setTimeout(res, 20));
  }
  const rssAfter = rssMiB(m.process.pid!);
  for (const c of clients) c.close();
  await m.stop();
  latencies.sort((a, b) => a - b);
  roundMax.sort((a, b) => a - b);
  return {
    agents: n,
    rounds: ROUNDS,
    perAgentMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! },
    allReceivedMs: { p50: percentile(roundMax, 50), p99: percentile(roundMax, 99), max: roundMax.at(-1)! },
    masterRssMiB: { connected: rssConnected, afterRounds: rssAfter },
  };
}

async function main() {
  const results = [];
  for (const n of [100, 1000]) results.push(await fanout(n));
  const gaps = await measureStepGaps();
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? '?',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  const f = (x: number) => x.toFixed(2).padStart(8);
  console.log(
    `\nupsfleet fan-out benchmark (${machine.cpus} x ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node})`,
  );
  console.log('state change at the master -> received and validated by agents (ms); master RSS (MiB)\n');
  console.log(
    'agents  per-agent p50     p99     max | all-received p50     p99     max | RSS connected  after',
  );
  for (const r of results) {
    console.log(
      `${String(r.agents).padStart(6)}  ${f(r.perAgentMs.p50)}${f(r.perAgentMs.p99)}${f(r.perAgentMs.max)} |      ${f(r.allReceivedMs.p50)}${f(r.allReceivedMs.p99)}${f(r.allReceivedMs.max)} |   ${f(r.masterRssMiB.connected)} ${f(r.masterRssMiB.afterRounds)}`,
    );
  }
  console.log(
    `\nstep gap (last confirmation of step n -> first order of step n+1, settle 0): p50 ${gaps.p50.toFixed(2)} ms, max ${gaps.max.toFixed(2)} ms over ${gaps.samples} gaps`,
  );
  const out = join(fileURLToPath(new URL('../../bench/results/', import.meta.url)));
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'fanout.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine, fanout: results, stepGapMs: gaps }, null, 2)}\n`,
  );
  console.log(`\nwritten: ${join(out, 'fanout.json')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
