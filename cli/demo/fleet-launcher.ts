/**
 * Starts a whole fleet as real processes on 127.0.0.1: one master on a simulated UPS and agents in
 * dry-run, each with its own config, token and marker file, in one directory. The demo and the
 * integration tests both use it, so the demo shows exactly what the tests check.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import { keygen } from '../commands/keygen.js';

export interface FleetGroupSpec {
  name: string;
  agents: string[];
  /**
   * The master knows these agents (token, group) but the launcher does not start them: the test writes
   * their config itself (e.g. a host fed by two fleets' UPSes) and starts them with `startAgentProcess`.
   */
  external?: boolean;
  /** Shell hooks every agent of the group runs (dry-run still runs them), or guest presets (docs/GUESTS.md). */
  hooks?: Array<
    | { name: string; run: string; timeout?: string; drillSafe?: boolean }
    | { preset: string; [setting: string]: unknown }
  >;
}

export interface FleetSpec {
  dir: string;
  groups: FleetGroupSpec[];
  sequence: Array<{ groups: string[]; deadline?: string; settle?: string }>;
  /** The outage, as a `.seq` timeline. */
  timeline: string;
  speed?: number;
  debounce?: string;
  deadtime?: string;
  /** The master's policy.lostMasterSpacing (default: the master's own). */
  lostMasterSpacing?: string;
  /** Every agent's deadtime (default: the agent's own). */
  agentDeadtime?: string;
  /** Extra master config, merged at the top level (YAML objects as JS). */
  masterExtra?: Record<string, unknown>;
  /** Extra settings of the master's own `master:` section (e.g. tlsWorkers). */
  masterSection?: Record<string, unknown>;
  /** Plain ws:// on loopback instead of the default TLS with the fingerprint pinned by every agent. */
  insecure?: boolean;
  logLevel?: string;
  /** Environment for the master process (e.g. UPSFLEET_CRASH_AFTER for a failpoint). */
  masterEnv?: Record<string, string>;
  /** Listen on a port chosen now and kept, so that a restarted master is found where the agents look. */
  fixedPort?: boolean;
  /** Run each agent as `node <file> -c CONFIG` (the one-file agent, dist/upsfleet-agent.cjs) instead of `upsfleet agent`. */
  agentBundle?: string;
  /** Run the master as `node <file> master -c CONFIG` (the one-file CLI the package and roles deploy, dist/upsfleet.cjs). */
  masterBundle?: string;
  /** The master's listen address (default 127.0.0.1): its address on a test network. */
  masterHost?: string;
  /**
   * A command prefix per process ('master' or an agent id), e.g. `ip netns exec NS` to run it on a test
   * network's host, or test/support/skewed-clock.ts for a skewed clock. The prefix must exec the program (the pid is then node's).
   */
  wrap?: (who: string) => string[];
  /** Every agent's reconnect backoff (default 200 ms to 2 s, quick for demos; null: the agent's own defaults). */
  agentReconnect?: { initial: string; max: string } | null;
  /** The master URLs an agent is given (default: the master's own URL), e.g. through a delaying relay. */
  agentMasterUrls?: (id: string, masterUrl: string) => string[];
}

export interface FleetAgent {
  id: string;
  group: string;
  config: string;
  marker: string;
  process: ChildProcess;
}

export interface RunningFleet {
  dir: string;
  httpUrl: string;
  wsUrl: string;
  adminToken: string;
  /** The master's certificate fingerprint the agents pin (null when insecure). */
  fingerprint: string | null;
  /** GET a path of the master's HTTP(S) API, with the pin checked. */
  getJson<T = Record<string, unknown>>(path: string): Promise<T>;
  /** The current master process (a new one after restartMaster). */
  master: ChildProcess;
  agents: FleetAgent[];
  /** The master's config file (tests edit it between restarts). */
  masterConfig: string;
  /**
   * Ends the master (SIGKILL by default, or waits for it to exit on its own: a failpoint) and starts a
   * new one with the same config and state directory; resolves when it listens. Logs go to master-N.log.
   */
  restartMaster(opts?: { signal?: NodeJS.Signals | null; env?: Record<string, string> }): Promise<void>;
  /** POST an admin action (/api/simulate, /api/fsd, /api/drill) with the admin token. */
  admin(path: string, body: Record<string, unknown>): Promise<void>;
  journal(): Array<Record<string, unknown>>;
  /** The token the master knows this agent by (for agents the test starts itself). */
  agentToken(id: string): string;
  /** Resolves once `predicate` holds for the journal; rejects after timeoutMs. */
  waitForJournal(
    predicate: (entries: Array<Record<string, unknown>>) => boolean,
    timeoutMs: number,
  ): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The built CLI when there is one (fast start-up); the TypeScript sources through tsx otherwise, or when
 * UPSFLEET_CLI_FROM_SOURCE=1 (while editing, so that a stale dist/ is never what a test runs).
 */
function cliPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return fileURLToPath(new URL('../main.js', import.meta.url));
  if (process.env.UPSFLEET_CLI_FROM_SOURCE === '1')
    return fileURLToPath(new URL('../main.ts', import.meta.url));
  const built = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL('../main.ts', import.meta.url));
}

const CLI = cliPath();

function spawnCli(
  args: string[],
  logFile: string,
  script: string = CLI,
  env: Record<string, string> = {},
  prefix: string[] = [],
): ChildProcess {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const argv = [process.execPath, ...loader, script, ...args];
  if (prefix.length > 0) argv.unshift(...prefix);
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UPSFLEET_LOG_LEVEL: process.env.UPSFLEET_LOG_LEVEL ?? 'info', ...env },
  });
  const log = createWriteStream(logFile);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once('exit', () => log.end());
  return child;
}

/** A port free right now on 127.0.0.1 (bound and released), for a master that must come back on it. */
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

function yamlOf(value: unknown): string {
  // JSON is valid YAML: the configs stay readable enough and need no extra writer
  return `${JSON.stringify(value, null, 2)}\n`;
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readJsonLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a torn last line (a test that kills the master mid-write): the master itself reports it
    }
  }
  return out;
}

/** SIGTERM each process (a daemon stops gracefully), SIGKILL what is still there 5 s later; resolves when all exited. */
export async function stopProcesses(list: ChildProcess[]): Promise<void> {
  await Promise.all(
    list.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
}

export async function launchFleet(spec: FleetSpec): Promise<RunningFleet> {
  const { dir } = spec;
  for (const sub of ['agents', 'markers', 'logs', 'master']) mkdirSync(join(dir, sub), { recursive: true });
  const adminToken = generateToken();
  const agentTokens = new Map<string, string>();
  for (const g of spec.groups) for (const id of g.agents) agentTokens.set(id, generateToken());

  writeFileSync(join(dir, 'master', 'outage.seq'), spec.timeline);
  // TLS by default, as on a real fleet: the master's key and certificate where it looks for them, pinned by every agent
  const fingerprint = spec.insecure
    ? null
    : keygen({
        certFile: join(dir, 'master', 'state', 'tls', 'master.crt'),
        keyFile: join(dir, 'master', 'state', 'tls', 'master.key'),
        names: [],
        commonName: 'upsfleet master (demo)',
        force: true,
      }).fingerprint;
  const masterConfig = {
    master: {
      id: 'master',
      listen: `${spec.masterHost ?? '127.0.0.1'}:${spec.fixedPort ? await freePort() : 0}`,
      stateDir: 'state',
      pingInterval: '2s',
      mdns: false,
      ...(spec.insecure ? { tls: { insecure: true } } : {}),
      ...(spec.masterSection ?? {}),
    },
    ups: {
      name: 'ups',
      description: 'demo UPS',
      source: { type: 'simulated', timeline: 'outage.seq', speed: spec.speed ?? 1 },
    },
    policy: {
      debounce: spec.debounce ?? '1s',
      deadtime: spec.deadtime ?? '15s',
      ...(spec.lostMasterSpacing ? { lostMasterSpacing: spec.lostMasterSpacing } : {}),
    },
    sequence: spec.sequence,
    agents: spec.groups.flatMap((g) =>
      g.agents.map((id) => ({ id, group: g.name, tokenHash: hashToken(agentTokens.get(id)!) })),
    ),
    admins: [{ name: 'admin', tokenHash: hashToken(adminToken) }],
    shutdown: { dryRun: true, marker: join(dir, 'markers', 'master.poweroff') },
    log: { level: spec.logLevel ?? 'info' },
    ...(spec.masterExtra ?? {}),
  };
  const masterFile = join(dir, 'master', 'master.yaml');
  writeFileSync(masterFile, yamlOf(masterConfig));
  const stateFile = join(dir, 'master', 'state', 'master.json');
  let masterStarts = 0;
  const startMaster = async (env: Record<string, string>) => {
    masterStarts++;
    const log = join(dir, 'logs', masterStarts === 1 ? 'master.log' : `master-${masterStarts}.log`);
    const child = spawnCli(
      ['master', '-c', masterFile],
      log,
      spec.masterBundle ?? CLI,
      env,
      spec.wrap?.('master'),
    );
    const started = await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`master exited with ${child.exitCode ?? child.signalCode}; see ${log}`);
        if (!existsSync(stateFile)) return undefined;
        const info = JSON.parse(readFileSync(stateFile, 'utf8')) as {
          url: string;
          http: string;
          pid: number;
        };
        return info.pid === child.pid ? info : undefined;
      },
      20_000,
      'the master to listen',
    );
    return { child, info: started };
  };
  const first = await startMaster(spec.masterEnv ?? {});
  let master = first.child;
  const info = first.info;

  const agents: FleetAgent[] = [];
  const spawnAgent = (id: string, config: string, logFile: string) =>
    spec.agentBundle
      ? spawnCli(['-c', config], logFile, spec.agentBundle, {}, spec.wrap?.(id))
      : spawnCli(['agent', '-c', config], logFile, CLI, {}, spec.wrap?.(id));
  for (const g of spec.groups) {
    if (g.external) continue;
    for (const id of g.agents) {
      const config = join(dir, 'agents', `${id}.yaml`);
      const marker = join(dir, 'markers', `${id}.poweroff`);
      writeFileSync(
        config,
        yamlOf({
          agent: {
            id,
            group: g.name,
            token: agentTokens.get(id),
            stateDir: join(dir, 'agents', `${id}.state`),
          },
          master: {
            urls: spec.agentMasterUrls?.(id, info.url) ?? [info.url],
            ...(fingerprint ? { fingerprint } : {}),
          },
          ...(spec.agentDeadtime ? { deadtime: spec.agentDeadtime } : {}),
          ...(spec.agentReconnect === null
            ? {}
            : { reconnect: spec.agentReconnect ?? { initial: '200ms', max: '2s' } }),
          shutdown: { dryRun: true, marker, command: ['systemctl', 'poweroff'] },
          hooks: g.hooks ?? [],
          log: { level: spec.logLevel ?? 'info' },
        }),
      );
      agents.push({
        id,
        group: g.name,
        config,
        marker,
        process: spawnAgent(id, config, join(dir, 'logs', `${id}.log`)),
      });
    }
  }

  const journalFile = join(dir, 'master', 'state', 'journal.jsonl');
  const fleet: RunningFleet = {
    dir,
    httpUrl: info.http,
    wsUrl: info.url,
    adminToken,
    fingerprint,
    getJson: async <T>(path: string) => {
      const res = await pinnedRequest(`${info.http}${path}`, {
        fingerprints: fingerprint ? [fingerprint] : [],
      });
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      return JSON.parse(res.text) as T;
    },
    get master() {
      return master;
    },
    agents,
    masterConfig: masterFile,
    restartMaster: async (opts = {}) => {
      const old = master;
      if (old.exitCode === null && old.signalCode === null) {
        await new Promise<void>((resolve) => {
          old.once('exit', () => resolve());
          if (opts.signal !== null) old.kill(opts.signal ?? 'SIGKILL');
        });
      }
      master = (await startMaster(opts.env ?? {})).child;
    },
    admin: async (path, body) => {
      const res = await pinnedRequest(`${info.http}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        fingerprints: fingerprint ? [fingerprint] : [],
      });
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${res.text}`);
    },
    journal: () => readJsonLines(journalFile),
    agentToken: (id) => {
      const token = agentTokens.get(id);
      if (token === undefined) throw new Error(`no agent ${id} in this fleet`);
      return token;
    },
    waitForJournal: async (predicate, timeoutMs) => {
      await waitFor(
        () => (predicate(readJsonLines(journalFile)) ? true : undefined),
        timeoutMs,
        'the journal condition',
      );
    },
    stop: () => stopProcesses([...agents.map((a) => a.process), master]),
  };
  return fleet;
}

/** Starts `upsfleet agent -c CONFIG` (dry-run config written by the test), its output in logFile. */
export function startAgentProcess(config: string, logFile: string, prefix: string[] = []): ChildProcess {
  return spawnCli(['agent', '-c', config], logFile, CLI, {}, prefix);
}

/** Waits until every agent is connected (as the master's /status reports). */
export async function waitForAgents(fleet: RunningFleet, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fleet.getJson<{ agents: Array<{ connected: boolean }> }>('/status');
    if (res.agents.filter((a) => a.connected).length >= fleet.agents.length) return;
    for (const a of fleet.agents) {
      if (a.process.exitCode !== null)
        throw new Error(`agent ${a.id} exited with ${a.process.exitCode}; see ${fleet.dir}/logs/${a.id}.log`);
    }
    if (Date.now() > until)
      throw new Error(
        `only ${res.agents.filter((a) => a.connected).length} of ${fleet.agents.length} agents connected after ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}
