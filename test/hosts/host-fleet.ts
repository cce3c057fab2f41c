/**
 * A fleet of real Debian 12 hosts for the deployment tests: each host is a systemd-nspawn container booted
 * with systemd as its PID 1 from an overlay of the cached base root, plugged into a bridge the fleet creates,
 * with sshd reachable by a key the fleet generates (root and the sudo user `deploy`), and apt going only
 * through the fleet's proxy to this machine's own Debian archives.
 *
 * This machine's PID 1 is not systemd, so nspawn runs with --register=no --keep-unit (no machined, no
 * scope). A host that powers itself off ends its nspawn process (exit 0); one that reboots ends it with
 * exit 133 and is booted again on the same root, as systemd-nspawn@.service does. The fleet stops only the
 * nspawn processes it started (by their pid) and removes only the bridge, mounts and files it created.
 */
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { claimSubnet } from '../support/subnet-claim.js';
import { type AptProxy, startAptProxy } from './apt-proxy.js';
import { BASE_PACKAGES, CACHE_DIR, DEPLOY_USER, ensureBaseRoot } from './base-root.js';
import { machineDebianSources } from './debian-mirror.js';
import { startOrphanReaper } from './orphan-reaper.js';

const run = promisify(execFile);

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Why this machine cannot run the host fleet (null: it can). */
export function hostFleetSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (containers, a bridge, overlay mounts)';
  if (process.env.UPSFLEET_SKIP_HOSTS)
    return `UPSFLEET_SKIP_HOSTS is set (${process.env.UPSFLEET_SKIP_HOSTS})`;
  const missing = [
    ['systemd-nspawn', 'systemd-container'],
    ['mmdebstrap', 'mmdebstrap'],
    ['ansible-playbook', 'ansible'],
    ['ssh', 'openssh-client'],
    ['ssh-keygen', 'openssh-client'],
    ['ip', 'iproute2'],
    ['flock', 'util-linux'],
  ].filter(([cmd]) => !has(cmd!));
  if (missing.length > 0)
    return `missing ${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(', ')}`;
  if (!readFileSync('/proc/filesystems', 'utf8').includes('\toverlay'))
    return 'the kernel has no overlay file system';
  if (machineDebianSources().length === 0)
    return 'no Debian bookworm archive in /etc/apt/sources.list(.d) to build the hosts from';
  const probe = `ufprobe${process.pid % 100000}`;
  const br = spawnSync('ip', ['link', 'add', probe, 'type', 'bridge'], { encoding: 'utf8' });
  if (br.status !== 0) return `cannot create a bridge: ${br.stderr.trim()}`;
  spawnSync('ip', ['link', 'del', probe]);
  return null;
}

export interface HostSpec {
  /** Inventory name and hostname. */
  name: string;
}

export interface TestHost {
  readonly name: string;
  readonly address: string;
  /** The nspawn process of the current boot (its pid is the container's leader's parent). */
  readonly running: boolean;
  /** How many times it booted (a reboot boots it again). */
  readonly boots: number;
  /** Exit codes of nspawn so far: 0 after a power-off, 133 after a reboot. */
  readonly exits: readonly (number | null)[];
  /** The container's console output (boot messages, the shutdown). */
  console(): string;
  ssh(command: string, opts?: { user?: string; timeoutMs?: number }): Promise<{ code: number; out: string }>;
  waitForSsh(timeoutMs?: number): Promise<void>;
  /** Resolves when the container has powered off (its nspawn exited with 0). */
  waitPoweredOff(timeoutMs: number): Promise<void>;
  /** Resolves when the host booted `count` times in all and answers on SSH. */
  waitBooted(count: number, timeoutMs: number): Promise<void>;
}

export interface HostFleet {
  readonly hosts: Map<string, TestHost>;
  readonly bridge: string;
  readonly bridgeAddress: string;
  readonly keyFile: string;
  readonly proxy: AptProxy;
  readonly dir: string;
  readonly timings: Record<string, number>;
  /** Create and boot more hosts on the same bridge (adding a host to the fleet). */
  add(specs: readonly HostSpec[]): Promise<TestHost[]>;
  destroy(): Promise<void>;
}

let fleets = 0;

export async function createHostFleet(specs: readonly HostSpec[]): Promise<HostFleet> {
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const sources = machineDebianSources();
  const base = await ensureBaseRoot(sources);
  timings[base.built ? 'baseRootBuildMs' : 'baseRootCachedMs'] = Date.now() - t0;

  const lab = `${(process.pid % 46656).toString(36)}${(fleets++).toString(36)}`;
  const claim = claimSubnet('10.214', process.pid + fleets * 37);
  const net = claim.net;
  const bridge = `ufh${lab}`;
  const bridgeAddress = `${net}.1`;
  const dir = mkdtempSync('/var/tmp/upsfleet-hosts-');
  const keyFile = join(dir, 'id_ed25519');
  const hosts = new Map<
    string,
    TestHost & { stop(): Promise<void>; root: string; readonly pid: number | undefined }
  >();
  let bridgeMade = false;
  let proxy: AptProxy | undefined;
  let nextAddress = 10;

  // a test process killed by the runner's timeout runs no after hook: this one cleans up then
  const reaper = startOrphanReaper(join(dir, 'reaper.state'));
  const record = () =>
    reaper.record({
      dir,
      bridge: bridgeMade ? bridge : null,
      claim: claim.path,
      mounts: [...hosts.values()].map((h) => h.root),
      pids: [...hosts.values()].flatMap((h) => (h.pid === undefined ? [] : [h.pid])),
    });

  const destroy = async () => {
    await Promise.all([...hosts.values()].map((h) => h.stop()));
    for (const h of hosts.values()) spawnSync('umount', [h.root]);
    hosts.clear();
    await proxy?.close();
    if (bridgeMade) spawnSync('ip', ['link', 'del', bridge]);
    bridgeMade = false;
    claim.release();
    reaper.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'upsfleet-test', '-f', keyFile]);
    execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
    bridgeMade = true;
    record();
    execFileSync('ip', ['addr', 'add', `${bridgeAddress}/24`, 'dev', bridge]);
    execFileSync('ip', ['link', 'set', bridge, 'up']);
    proxy = await startAptProxy({
      host: bridgeAddress,
      allowedPrefixes: sources.map((s) => s.uri),
      cacheDir: join(CACHE_DIR, 'apt-archives'),
    });
  } catch (err) {
    await destroy();
    throw err;
  }
  const pubKey = readFileSync(`${keyFile}.pub`, 'utf8');
  const aptProxy = proxy;

  const makeHost = (
    spec: HostSpec,
  ): TestHost & { stop(): Promise<void>; root: string; boot(): void; readonly pid: number | undefined } => {
    const address = `${net}.${nextAddress++}`;
    const hostDir = join(dir, spec.name);
    const root = join(hostDir, 'root');
    for (const d of ['upper', 'work', 'root']) mkdirSync(join(hostDir, d), { recursive: true });
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${base.path},upperdir=${join(hostDir, 'upper')},workdir=${join(hostDir, 'work')}`,
      root,
    ]);
    writeFileSync(join(root, 'etc/hostname'), `${spec.name}\n`);
    writeFileSync(
      join(root, 'etc/hosts'),
      `127.0.0.1 localhost\n127.0.1.1 ${spec.name}\n${address} ${spec.name}\n`,
    );
    mkdirSync(join(root, 'etc/systemd/network'), { recursive: true });
    writeFileSync(
      join(root, 'etc/systemd/network/10-host0.network'),
      `[Match]\nName=host0\n\n[Network]\nAddress=${address}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
    );
    writeFileSync(
      join(root, 'etc/apt/apt.conf.d/80-upsfleet-test-proxy'),
      `Acquire::http::Proxy "${aptProxy.url}";\nAcquire::https::Proxy "${aptProxy.url}";\n`,
    );
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const deployIds = /^deploy:x:(\d+):(\d+):/m.exec(passwd);
    for (const [home, ids] of [
      ['root', [0, 0]],
      [`home/${DEPLOY_USER}`, deployIds ? [Number(deployIds[1]), Number(deployIds[2])] : [0, 0]],
    ] as const) {
      const ssh = join(root, home, '.ssh');
      mkdirSync(ssh, { recursive: true, mode: 0o700 });
      writeFileSync(join(ssh, 'authorized_keys'), pubKey, { mode: 0o600 });
      chownSync(ssh, ids[0], ids[1]);
      chownSync(join(ssh, 'authorized_keys'), ids[0], ids[1]);
    }

    let proc: ChildProcess | undefined;
    let consoleText = '';
    let boots = 0;
    let stopping = false;
    const exits: (number | null)[] = [];
    const exitWaiters: Array<() => void> = [];
    const machine = `uf-${lab}-${spec.name}`;
    const boot = () => {
      boots++;
      const p = spawn(
        'systemd-nspawn',
        [
          '--boot',
          `--directory=${root}`,
          `--machine=${machine}`,
          `--network-bridge=${bridge}`,
          '--register=no',
          '--keep-unit',
          '--console=read-only',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      proc = p;
      record();
      const keep = (d: Buffer) => {
        consoleText = (consoleText + d.toString()).slice(-200_000);
      };
      p.stdout?.on('data', keep);
      p.stderr?.on('data', keep);
      p.on('exit', (code) => {
        exits.push(code);
        proc = undefined;
        // 133: the container asked for a reboot (systemd-nspawn@.service restarts on it too)
        if (code === 133 && !stopping) boot();
        for (const w of exitWaiters.splice(0)) w();
      });
    };

    const ssh = async (command: string, opts: { user?: string; timeoutMs?: number } = {}) => {
      try {
        const r = await run(
          'ssh',
          [
            ...sshOptions(keyFile),
            '-o',
            `ConnectTimeout=${Math.ceil((opts.timeoutMs ?? 30_000) / 1000)}`,
            `${opts.user ?? 'root'}@${address}`,
            command,
          ],
          { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
        );
        return { code: 0, out: `${r.stdout}${r.stderr}` };
      } catch (err) {
        const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
        return {
          code: typeof e.code === 'number' ? e.code : 255,
          out: `${e.stdout ?? ''}${e.stderr ?? ''}${typeof e.code === 'number' ? '' : e.message}`,
        };
      }
    };
    const waitForSsh = async (timeoutMs = 60_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await ssh('systemctl is-system-running --wait >/dev/null 2>&1; true', {
          timeoutMs: 20_000,
        });
        if (r.code === 0) return;
        if (Date.now() > until)
          throw new Error(
            `${spec.name} (${address}) not reachable over SSH: ${r.out}\n${consoleText.slice(-3000)}`,
          );
        await sleep(300);
      }
    };
    const waitExit = (pred: () => boolean, what: string, timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        if (pred()) return resolve();
        const timer = setTimeout(
          () =>
            reject(
              new Error(`${spec.name}: ${what} not seen in ${timeoutMs} ms\n${consoleText.slice(-3000)}`),
            ),
          timeoutMs,
        );
        const check = () => {
          if (pred()) {
            clearTimeout(timer);
            resolve();
          } else exitWaiters.push(check);
        };
        exitWaiters.push(check);
      });

    return {
      name: spec.name,
      address,
      root,
      boot,
      get running() {
        return proc !== undefined;
      },
      get pid() {
        return proc?.pid;
      },
      get boots() {
        return boots;
      },
      exits,
      console: () => consoleText,
      ssh,
      waitForSsh,
      waitPoweredOff: (timeoutMs) => waitExit(() => exits.includes(0) && !proc, 'power-off', timeoutMs),
      waitBooted: async (count, timeoutMs) => {
        const until = Date.now() + timeoutMs;
        while (boots < count) {
          if (Date.now() > until) throw new Error(`${spec.name}: boot ${count} not seen (${boots} boots)`);
          await sleep(200);
        }
        await waitForSsh(Math.max(1000, until - Date.now()));
      },
      stop: async () => {
        stopping = true;
        const p = proc;
        if (!p?.pid) return;
        // nspawn turns SIGTERM into an orderly halt of the container's systemd; SIGKILL if it hangs
        const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        process.kill(p.pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (p.pid && p.exitCode === null) process.kill(p.pid, 'SIGKILL');
        }, 20_000);
        await gone;
        clearTimeout(timer);
      },
    };
  };

  const add = async (more: readonly HostSpec[]) => {
    const t = Date.now();
    const made = more.map((s) => {
      if (hosts.has(s.name)) throw new Error(`host ${s.name} already in the fleet`);
      const h = makeHost(s);
      hosts.set(s.name, h);
      record();
      return h;
    });
    timings.createMs = (timings.createMs ?? 0) + (Date.now() - t);
    const b = Date.now();
    for (const h of made) h.boot();
    await Promise.all(made.map((h) => h.waitForSsh(90_000)));
    timings.bootToSshMs = (timings.bootToSshMs ?? 0) + (Date.now() - b);
    return made;
  };

  try {
    await add(specs);
  } catch (err) {
    await destroy();
    throw err;
  }
  return { hosts, bridge, bridgeAddress, keyFile, proxy: aptProxy, dir, timings, add, destroy };
}

export function sshOptions(keyFile: string): string[] {
  return [
    '-i',
    keyFile,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
  ];
}

export { BASE_PACKAGES };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
