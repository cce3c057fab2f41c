/**
 * A throw-away NUT sandbox for interop tests: private NUT_CONFPATH/NUT_STATEPATH in a temp dir, real
 * upsd / dummy-ups / upsmon from Debian's nut-server and nut-client packages started in the foreground
 * as children of the test on 127.0.0.1 and free ports, and killed (by their own pid) on stop.
 * upsmon's SHUTDOWNCMD only ever writes a timestamped marker file; notifications never reach `wall`.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type NutProgram = 'upsc' | 'upsrw' | 'upscmd' | 'upsd' | 'upsmon' | 'dummyUps';

const CANDIDATES: Record<NutProgram, string[]> = {
  upsc: ['/usr/bin/upsc', '/bin/upsc'],
  upsrw: ['/usr/bin/upsrw', '/bin/upsrw'],
  upscmd: ['/usr/bin/upscmd', '/bin/upscmd'],
  // /usr/sbin/upsd and /usr/sbin/upsmon are Debian wrappers that honour /etc/nut/nut.conf: use the real ones
  upsd: ['/lib/nut/upsd', '/usr/lib/nut/upsd', '/usr/sbin/upsd', '/sbin/upsd'],
  upsmon: ['/lib/nut/upsmon', '/usr/lib/nut/upsmon', '/usr/sbin/upsmon', '/sbin/upsmon'],
  dummyUps: ['/lib/nut/dummy-ups', '/usr/lib/nut/dummy-ups'],
};

function findBinary(name: NutProgram): string | undefined {
  for (const p of CANDIDATES[name]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

export const NUT_BIN: Record<NutProgram, string> = {
  upsc: findBinary('upsc') ?? '',
  upsrw: findBinary('upsrw') ?? '',
  upscmd: findBinary('upscmd') ?? '',
  upsd: findBinary('upsd') ?? '',
  upsmon: findBinary('upsmon') ?? '',
  dummyUps: findBinary('dummyUps') ?? '',
};

/** Why the interop tests must skip here, or undefined when every NUT program is installed. */
export function nutMissing(
  which: NutProgram[] = ['upsc', 'upsrw', 'upscmd', 'upsd', 'upsmon', 'dummyUps'],
): string | undefined {
  const missing = which.filter((k) => !NUT_BIN[k]);
  if (missing.length === 0) return undefined;
  return `NUT programs not installed (${missing.join(', ')}): apt-get install nut-client nut-server to run the interop tests`;
}

const UNSHARE = '/usr/bin/unshare';
let privateRunDir: boolean | undefined;

/** Whether upsmon can get its own /run/nut (root, unshare, mount namespaces allowed here). */
function privateRunDirWorks(): boolean {
  if (privateRunDir === undefined) {
    privateRunDir =
      process.getuid?.() === 0 &&
      existsSync(UNSHARE) &&
      existsSync('/run/nut') &&
      spawnSync(UNSHARE, ['-m', 'sh', '-c', 'mount --bind "$0" /run/nut', tmpdir()], { stdio: 'ignore' })
        .status === 0;
  }
  return privateRunDir;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a NUT client program to completion (stdin closed). */
export function run(
  bin: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
  timeoutMs = 15_000,
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { env: env ?? process.env, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.end();
  });
}

export interface SandboxProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface UpsdUser {
  name: string;
  password: string;
  upsmon?: 'primary' | 'secondary';
  actions?: string[];
  instcmds?: string[];
}

export interface UpsmonOptions {
  /** `ups@127.0.0.1:PORT` */
  monitor: string;
  user: string;
  password: string;
  role: 'primary' | 'secondary';
  pollFreq?: number;
  hostSync?: number;
  deadTime?: number;
  /** Run upsmon in this network namespace (`ip netns exec NS`: a host of a test network). */
  netns?: string;
}

export class NutSandbox {
  readonly dir: string;
  readonly confDir: string;
  readonly stateDir: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly procs: SandboxProcess[] = [];

  constructor(prefix = 'upsfleet-nut-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.confDir = join(this.dir, 'conf');
    this.stateDir = join(this.dir, 'state');
    for (const d of [this.confDir, this.stateDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    this.env = {
      ...process.env,
      NUT_CONFPATH: this.confDir,
      NUT_STATEPATH: this.stateDir,
      NUT_ALTPIDPATH: this.stateDir,
    };
    this.writeConf('nut.conf', 'MODE=standalone\n');
  }

  writeConf(name: string, content: string, mode = 0o600): string {
    const p = join(this.confDir, name);
    writeFileSync(p, content);
    chmodSync(p, mode);
    return p;
  }

  /** Starts a long-running NUT program in the foreground; its output is kept for diagnostics. */
  spawn(name: string, bin: string, args: string[], prefix: string[] = []): SandboxProcess {
    const argv = [...prefix, bin, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    const proc: SandboxProcess = {
      name,
      child,
      output: () => out,
      exited,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      },
    };
    this.procs.push(proc);
    return proc;
  }

  /**
   * upsd.conf + upsd.users + ups.conf for one dummy-ups UPS playing `seq` (a `.seq` or `.dev` text); returns the
   * data file (a `.dev` is read again whenever its modification time changes: rewrite it to change the UPS).
   */
  configureUpsd(opts: {
    port: number;
    upsName: string;
    seq: string;
    seqExt?: 'seq' | 'dev';
    users: UpsdUser[];
  }): string {
    const dataFile = join(this.confDir, `${opts.upsName}.${opts.seqExt ?? 'seq'}`);
    writeFileSync(dataFile, opts.seq);
    this.writeConf(
      'ups.conf',
      `[${opts.upsName}]\n  driver = dummy-ups\n  port = ${dataFile}\n  desc = "sandbox UPS"\n`,
    );
    this.writeConf('upsd.conf', `LISTEN 127.0.0.1 ${opts.port}\nMAXAGE 5\n`);
    this.writeConf(
      'upsd.users',
      opts.users
        .map((u) =>
          [
            `[${u.name}]`,
            `  password = ${u.password}`,
            ...(u.upsmon ? [`  upsmon ${u.upsmon}`] : []),
            ...(u.actions ?? []).map((a) => `  actions = ${a}`),
            ...(u.instcmds ?? []).map((c) => `  instcmds = ${c}`),
          ].join('\n'),
        )
        .join('\n\n')
        .concat('\n'),
    );
    return dataFile;
  }

  startDummyUps(upsName: string): SandboxProcess {
    return this.spawn('dummy-ups', NUT_BIN.dummyUps, ['-a', upsName, '-u', 'root', '-D']);
  }

  /** Starts upsd and resolves once it answers on its port. */
  async startUpsd(port: number): Promise<SandboxProcess> {
    const p = this.spawn('upsd', NUT_BIN.upsd, ['-F', '-u', 'root']);
    await waitFor(
      async () => (await run(NUT_BIN.upsc, ['-l', `127.0.0.1:${port}`], this.env, 3000)).code === 0,
      'upsd to answer',
      10_000,
    );
    return p;
  }

  /** The marker file upsmon's SHUTDOWNCMD writes (one line per call: epoch ms). */
  markerPath(name: string): string {
    return join(this.dir, `${name}.shutdown`);
  }

  readMarker(name: string): number[] {
    const p = this.markerPath(name);
    if (!existsSync(p)) return [];
    return readFileSync(p, 'utf8').split('\n').filter(Boolean).map(Number);
  }

  /** Starts a real upsmon in the foreground (no privilege split) whose SHUTDOWNCMD only writes a marker. */
  startUpsmon(name: string, o: UpsmonOptions): SandboxProcess {
    const script = join(this.dir, `${name}-shutdown.sh`);
    writeFileSync(script, `#!/bin/sh\necho $(date +%s%3N) >> '${this.markerPath(name)}'\n`);
    chmodSync(script, 0o755);
    const notify = [
      'ONLINE',
      'ONBATT',
      'LOWBATT',
      'FSD',
      'COMMOK',
      'COMMBAD',
      'SHUTDOWN',
      'REPLBATT',
      'NOCOMM',
      'NOPARENT',
    ]
      .map((t) => `NOTIFYFLAG ${t} SYSLOG`)
      .join('\n');
    this.writeConf(
      'upsmon.conf',
      [
        `MONITOR ${o.monitor} 1 ${o.user} ${o.password} ${o.role}`,
        'MINSUPPLIES 1',
        `SHUTDOWNCMD "${script}"`,
        `POLLFREQ ${o.pollFreq ?? 1}`,
        `POLLFREQALERT ${o.pollFreq ?? 1}`,
        `HOSTSYNC ${o.hostSync ?? 5}`,
        `DEADTIME ${o.deadTime ?? 15}`,
        'FINALDELAY 0',
        'RBWARNTIME 43200',
        'NOCOMMWARNTIME 300',
        `POWERDOWNFLAG ${join(this.stateDir, `${name}.killpower`)}`,
        'RUN_AS_USER root',
        notify,
        '',
      ].join('\n'),
    );
    const args = ['-F', '-p', '-D'];
    // ip netns exec execs the program: the pid stays upsmon's
    const prefix = o.netns ? ['ip', 'netns', 'exec', o.netns] : [];
    if (!privateRunDirWorks()) return this.spawn(`upsmon-${name}`, NUT_BIN.upsmon, args, prefix);
    // upsmon (as root) keeps its pid file in /run/nut whatever NUT_ALTPIDPATH says, and refuses to start
    // while another upsmon on this machine runs (another test file, another checkout's tests): give it
    // a private /run/nut in its own mount namespace. unshare and sh exec, so the pid is upsmon's.
    const runDir = join(this.dir, `${name}-run`);
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    return this.spawn(
      `upsmon-${name}`,
      UNSHARE,
      ['-m', 'sh', '-c', 'mount --bind "$0" /run/nut && exec "$@"', runDir, NUT_BIN.upsmon, ...args],
      prefix,
    );
  }

  /** Kills every process this sandbox started (each by its own pid) and removes the directory. */
  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Output of every process, for a failing test's message. */
  logs(): string {
    return this.procs.map((p) => `----- ${p.name} -----\n${p.output().slice(-4000)}`).join('\n');
  }
}
