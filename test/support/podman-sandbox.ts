/**
 * A real Podman for tests that touches nothing of the host's containers: its own storage and run
 * directories (CONTAINERS_STORAGE_CONF, CONTAINERS_CONF pointing into a temporary directory, set on
 * this process so that every podman it or its children start, the preset's included, use them), an
 * image made locally from busybox-static's /bin/busybox (no registry is reachable), containers with no
 * network. runc is the runtime where it is installed (crun refuses hybrid cgroup hierarchies), and the
 * rlimits are set explicitly (a container may not raise them in an unprivileged sandbox).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PODMAN_IMAGE = 'localhost/upsfleet-busybox:test';

export interface PodmanSandbox {
  dir: string;
  /** Runs podman in the sandbox (argv); throws on failure. */
  podman(...args: string[]): string;
  /** Starts a container named `name` running `cmd` (argv inside the image). */
  run(name: string, cmd: string[]): void;
  /** Container name -> running? */
  running(): Record<string, boolean>;
  exitCode(name: string): number;
  stop(): Promise<void>;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why this machine cannot run the sandbox, or null. */
export function podmanSkipReason(): string | null {
  if (process.platform !== 'linux') return 'Podman tests need Linux';
  if (process.getuid?.() !== 0) return 'needs root (rootful Podman)';
  if (!which('podman')) return 'podman is not installed (Debian package podman)';
  if (!existsSync('/bin/busybox')) return 'busybox is not installed (Debian package busybox-static)';
  const ldd = spawnSync('ldd', ['/bin/busybox'], { encoding: 'utf8' });
  if (!/not a dynamic executable|statically linked/.test(`${ldd.stdout}${ldd.stderr}`))
    return '/bin/busybox is not static (Debian package busybox-static)';
  return null;
}

export function startPodmanSandbox(): PodmanSandbox {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-podman-'));
  for (const d of ['store', 'run', 'tmp', 'rootfs/bin']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(dir, 'storage.conf'),
    `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/store"\nrunroot = "${dir}/run"\n`,
  );
  writeFileSync(
    join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]',
      'netns = "none"',
      '[engine]',
      `tmp_dir = "${dir}/tmp"`,
      `static_dir = "${dir}/store/libpod"`,
      `volume_path = "${dir}/store/volumes"`,
      // podman's cleanup processes would still write events after a container is gone
      'events_logger = "none"',
      ...(which('runc') ? ['runtime = "runc"'] : []),
      '',
    ].join('\n'),
  );
  process.env.CONTAINERS_STORAGE_CONF = join(dir, 'storage.conf');
  process.env.CONTAINERS_CONF = join(dir, 'containers.conf');
  const podman = (...args: string[]): string => {
    const r = spawnSync('podman', args, { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr || r.error?.message}`);
    return r.stdout;
  };
  copyFileSync('/bin/busybox', join(dir, 'rootfs/bin/busybox'));
  for (const applet of ['sh', 'sleep']) symlinkSync('busybox', join(dir, 'rootfs/bin', applet));
  const tar = spawnSync('tar', ['-C', join(dir, 'rootfs'), '-cf', join(dir, 'rootfs.tar'), '.']);
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
  podman('import', join(dir, 'rootfs.tar'), PODMAN_IMAGE);
  return {
    dir,
    podman,
    run(name, cmd) {
      podman('run', '-d', '--name', name, '--network', 'none', PODMAN_IMAGE, ...cmd);
    },
    running() {
      const out: Record<string, boolean> = {};
      const ids = podman('ps', '-a', '-q').split('\n').filter(Boolean);
      if (ids.length === 0) return out;
      for (const line of podman('inspect', '--format', '{{.Name}} {{.State.Running}}', ...ids).split('\n')) {
        const [name, running] = line.trim().split(' ');
        if (name) out[name] = running === 'true';
      }
      return out;
    },
    exitCode(name) {
      return Number(podman('inspect', '--format', '{{.State.ExitCode}}', name).trim());
    },
    async stop() {
      try {
        const ids = podman('ps', '-a', '-q').split('\n').filter(Boolean);
        if (ids.length > 0) podman('rm', '-f', '-t', '0', ...ids);
      } catch {
        /* the directory goes anyway */
      }
      delete process.env.CONTAINERS_STORAGE_CONF;
      delete process.env.CONTAINERS_CONF;
      // a removed container's cleanup process (conmon runs `podman container cleanup`) may still write into
      // the store for a moment: remove until it stays gone
      for (let i = 0; i < 20; i++) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          /* written to while removed: again */
        }
        await new Promise((r) => setTimeout(r, 500));
        if (!existsSync(dir)) break;
      }
    },
  };
}
