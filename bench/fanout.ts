/**
 * Fan-out: a state change at the master until every agent has received and validated it, for N connected
 * agents living in another process (bench/agent-swarm.ts), over TLS as deployed, with the master's RSS.
 * Also the master under test (startMaster) and the admin calls the other benchmark sections share.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { keygen } from '../cli/commands/keygen.js';
import { generateToken, hashToken } from '../shared/auth/token.js';
import { STATE_DELTA_CAPABILITY } from '../shared/protocol/messages.js';
import { SEQ_CAPABILITY } from '../shared/protocol/replay-guard.js';
import { nowMs, percentile, rssMiB, sleep } from './measure.js';
import { TYPICAL_UPS } from './typical-ups.js';

export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const SWARM = fileURLToPath(new URL('./agent-swarm.js', import.meta.url));

export interface MasterUnderTest {
  dir: string;
  process: ChildProcess;
  http: string;
  ws: string;
  /** host:port of the NUT server when the config has `nut:`. */
  nut?: string;
  adminToken: string;
  tokens: Map<string, string>;
  fingerprint: string;
  certPem: string;
  stop(): Promise<void>;
}

export interface MasterExtras {
  /** Merged into `master:` (limits, ...). */
  master?: Record<string, unknown>;
  /** Top-level sections (nut, ...). */
  sections?: Record<string, unknown>;
}

export async function startMaster(
  agents: Array<{ id: string; group: string }>,
  sequence: Array<{ groups: string[]; deadline?: string; settle?: string }>,
  extras: MasterExtras = {},
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
      limits: { connectionsPerAddress: Math.max(64, agents.length + 100) },
      ...extras.master,
    },
    ups: { source: { type: 'simulated', script: 'ups.status: OL\nbattery.charge: 100\n' } },
    policy: { debounce: 0 },
    sequence,
    agents: agents.map((a) => ({ id: a.id, group: a.group, tokenHash: hashToken(tokens.get(a.id)!) })),
    admins: [{ name: 'bench', tokenHash: hashToken(adminToken) }],
    shutdown: { dryRun: true },
    log: { level: 'warn' },
    ...extras.sections,
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
    await sleep(25);
  }
  await sleep(50);
  const info = JSON.parse(readFileSync(stateFile, 'utf8')) as { url: string; http: string; nut?: string };
  return {
    dir,
    process: child,
    fingerprint: tls.fingerprint,
    certPem: readFileSync(join(dir, 'state', 'tls', 'master.crt'), 'utf8'),
    http: info.http,
    ws: info.url,
    ...(info.nut ? { nut: info.nut } : {}),
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

const keepAlive = new WeakMap<MasterUnderTest, HttpsAgent>();

/**
 * An admin POST over one kept-alive TLS connection (trusting the master's own certificate), so that a
 * timed call costs a request, not a handshake.
 */
export function admin(m: MasterUnderTest, path: string, body: unknown): Promise<void> {
  let agent = keepAlive.get(m);
  if (!agent) {
    agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: m.certPem });
    keepAlive.set(m, agent);
  }
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${m.http}${path}`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${m.adminToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

/** GET /status over a fresh TLS connection (trusting the master's own certificate). */
export function masterStatus(m: MasterUnderTest): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${m.http}/status`, { ca: m.certPem }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d;
      });
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(JSON.parse(text) as Record<string, unknown>)
          : reject(new Error(`/status: ${res.statusCode}`)),
      );
    });
    req.once('error', reject);
    req.end();
  });
}

export function closeAdmin(m: MasterUnderTest): void {
  keepAlive.get(m)?.destroy();
}

/** The agents' process: JSON lines in both directions (bench/agent-swarm.ts). */
class Swarm {
  private readonly lines: AsyncIterator<string>;
  constructor(readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }
  async next<T>(): Promise<T> {
    const r = await this.lines.next();
    if (r.done) throw new Error('the agents process ended');
    return JSON.parse(r.value) as T;
  }
  send(cmd: object): void {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }
}

export interface FanoutResult {
  agents: number;
  /** The master's TLS worker processes (master.tlsWorkers); 0: TLS in the master's own process. */
  tlsWorkers: number;
  rounds: number;
  capabilities: string[];
  /** From the change at the master (admin call sent) to each agent's arrival. */
  perAgentMs: { p50: number; p99: number; max: number };
  /** The same to the last agent of each round. */
  allReceivedMs: { p50: number; p99: number; max: number };
  /** The master's processes together: the main one and its TLS workers. */
  masterRssMiB: { connected: number; afterRounds: number; peak: number };
  invalid: number;
  /** Bytes of a full state of this UPS (the one after the welcome), and what a one-variable change was on the wire. */
  stateBytes: number;
  change: { type: string; bytes: number };
  /** The master's own part of each round's broadcast (framing and writing to every socket), from /status. */
  masterWriteMs: { p50: number; max: number } | null;
}

/** What the fan-out's agents announce: as a deployed agent (numbered messages, state deltas). */
export const FANOUT_CAPABILITIES = [SEQ_CAPABILITY, STATE_DELTA_CAPABILITY];

export async function fanout(
  n: number,
  rounds: number,
  capabilities: string[] = FANOUT_CAPABILITIES,
  tlsWorkers = 0,
): Promise<FanoutResult> {
  const agents = Array.from({ length: n }, (_, i) => ({ id: `agent-${i}`, group: `g${i % 5}` }));
  // a UPS with the variables a real one has, so a full state weighs what it weighs in the field
  const m = await startMaster(agents, [{ groups: ['g0', 'g1', 'g2', 'g3', 'g4'] }], {
    ...(tlsWorkers > 0 ? { master: { tlsWorkers } } : {}),
    sections: { ups: { source: { type: 'simulated', script: TYPICAL_UPS } } },
  });
  const setupFile = join(m.dir, 'swarm.json');
  writeFileSync(
    setupFile,
    JSON.stringify({
      url: m.ws,
      ca: m.certPem,
      capabilities,
      agents: agents.map((a) => ({ ...a, token: m.tokens.get(a.id)! })),
    }),
  );
  const child = spawn(process.execPath, [SWARM, setupFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const swarm = new Swarm(child);
  try {
    const { stateBytes } = await swarm.next<{ ready: number; stateBytes: number }>();
    await sleep(500);
    const main = (await masterStatus(m)).main as {
      tlsWorkers?: Array<{ pid: number | null; links: number }>;
    };
    const workers = main.tlsWorkers ?? [];
    const carried = workers.reduce((sum, w) => sum + w.links, 0);
    if (carried !== (tlsWorkers > 0 ? n : 0))
      throw new Error(`${carried} of ${n} agents in TLS workers, expected ${tlsWorkers > 0 ? n : 0}`);
    const pids = [m.process.pid!, ...workers.flatMap((w) => (w.pid === null ? [] : [w.pid]))];
    const masterRss = () => pids.reduce((sum, pid) => sum + rssMiB(pid), 0);
    const rssConnected = masterRss();
    let peak = rssConnected;
    const latencies: number[] = [];
    const roundMax: number[] = [];
    let invalid = 0;
    let change = { type: '', bytes: 0 };
    for (let r = 0; r < rounds; r++) {
      const expected = String(99 - (r % 50));
      swarm.send({ expect: expected });
      await swarm.next<{ expecting: string }>();
      const t0 = nowMs();
      await admin(m, '/api/simulate', { name: 'battery.charge', value: expected });
      const got = await swarm.next<{
        charge: string;
        at: number[];
        invalid: number;
        wire: { type: string; bytes: number };
      }>();
      invalid = got.invalid;
      change = got.wire;
      let worst = 0;
      for (const at of got.at) {
        latencies.push(at - t0);
        worst = Math.max(worst, at - t0);
      }
      roundMax.push(worst);
      peak = Math.max(peak, masterRss());
      await sleep(n >= 5000 ? 200 : 30);
    }
    const rssAfter = masterRss();
    const fanoutView = (await masterStatus(m)).fanout as { recentMs?: number[] } | undefined;
    const writes = (fanoutView?.recentMs ?? []).slice(-rounds).sort((a, b) => a - b);
    latencies.sort((a, b) => a - b);
    roundMax.sort((a, b) => a - b);
    return {
      agents: n,
      tlsWorkers,
      rounds,
      capabilities,
      perAgentMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! },
      allReceivedMs: { p50: percentile(roundMax, 50), p99: percentile(roundMax, 99), max: roundMax.at(-1)! },
      masterRssMiB: { connected: rssConnected, afterRounds: rssAfter, peak },
      invalid,
      stateBytes,
      change,
      masterWriteMs: writes.length > 0 ? { p50: percentile(writes, 50), max: writes.at(-1)! } : null,
    };
  } finally {
    swarm.send({ quit: true });
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000)]);
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    closeAdmin(m);
    await m.stop();
  }
}
