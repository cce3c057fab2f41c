/**
 * A real libvirt for tests, with no virtual machine and nothing of the host's: libvirtd run as `nobody`
 * in session mode in a temporary directory, serving libvirt's own test driver over its socket
 * (`test+unix:///default?socket=...`). The test driver keeps its domains per process that opens it, so a
 * plain `virsh -c test:///default` starts from the default state every time; served by one daemon, the
 * domains live as long as one connection holds them, and every separate virsh call (as the preset makes
 * them) sees the same domains go from running to shut off. One idle interactive virsh is that holder.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LibvirtSandbox {
  uri: string;
  dir: string;
  /** Runs virsh on the sandbox (argv, no shell); throws on failure. */
  virsh(...args: string[]): string;
  /** Defines and starts a test-driver domain. */
  startDomain(name: string): void;
  /** The domains and their state (`running`, `shut off`). */
  states(): Record<string, string>;
  stop(): Promise<void>;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function uidOf(user: string): number | null {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

/** Why this machine cannot run the sandbox, or null. */
export function libvirtSkipReason(): string | null {
  if (process.platform !== 'linux') return 'libvirt tests need Linux';
  if (process.getuid?.() !== 0) return 'needs root (libvirtd is started as the user nobody)';
  if (!which('virsh')) return 'virsh is not installed (Debian package libvirt-clients)';
  if (!existsSync('/usr/sbin/libvirtd')) return 'libvirtd is not installed (Debian package libvirt-daemon)';
  if (!which('setpriv')) return 'setpriv is not installed (Debian package util-linux)';
  if (uidOf('nobody') === null) return 'no user nobody';
  return null;
}

async function waitFor(probe: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startLibvirtSandbox(): Promise<LibvirtSandbox> {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-libvirt-'));
  const run = join(dir, 'run');
  const home = join(dir, 'home');
  for (const d of [run, home]) mkdirSync(d, { recursive: true });
  const uid = uidOf('nobody')!;
  const gid = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  for (const d of [dir, run, home]) chownSync(d, uid, gid);
  const daemon: ChildProcess = spawn(
    'setpriv',
    [
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      'env',
      '-i',
      'PATH=/usr/sbin:/usr/bin:/bin',
      `HOME=${home}`,
      `XDG_RUNTIME_DIR=${run}`,
      '/usr/sbin/libvirtd',
    ],
    { stdio: 'ignore' },
  );
  const socket = join(run, 'libvirt', 'libvirt-sock');
  const uri = `test+unix:///default?socket=${socket}`;
  const virsh = (...args: string[]): string => {
    const r = spawnSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`virsh ${args.join(' ')}: ${r.stderr || r.error?.message}`);
    return r.stdout;
  };
  let holder: ChildProcess | null = null;
  const stop = async () => {
    for (const p of [holder, daemon]) {
      if (!p || p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => existsSync(socket), 20_000, 'libvirtd to listen');
    await waitFor(
      () => spawnSync('virsh', ['-q', '-c', uri, 'version'], { stdio: 'ignore' }).status === 0,
      20_000,
      'libvirtd to answer',
    );
    // the connection that keeps the test driver's domains alive between the preset's virsh calls
    holder = spawn('virsh', ['-c', uri], { stdio: ['pipe', 'ignore', 'ignore'] });
    await new Promise((r) => setTimeout(r, 300));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    uri,
    dir,
    virsh,
    startDomain(name) {
      const xml = join(dir, `${name}.xml`);
      writeFileSync(
        xml,
        `<domain type='test'><name>${name}</name><memory>65536</memory><os><type>hvm</type></os></domain>\n`,
      );
      virsh('define', xml);
      virsh('start', '--domain', name);
    },
    states() {
      const out: Record<string, string> = {};
      for (const line of virsh('list', '--all').split('\n')) {
        const m = /^\s*(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
        if (m) out[m[2]!] = m[3]!;
      }
      return out;
    },
    stop,
  };
}
