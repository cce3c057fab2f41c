/**
 * The Debian 12 root every test host boots from: built once with mmdebstrap from the machine's own Debian
 * archives and kept under /var/cache/upsfleet-hosts, keyed by a hash of everything that goes into it (the
 * package list, the archives, the recipe), so later runs skip the 30-90 s build. Hosts never write to it:
 * each boots an overlay of it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type AptSource, sourcesListLines } from './debian-mirror.js';

const run = promisify(execFile);

export const CACHE_DIR = process.env.UPSFLEET_HOSTS_CACHE ?? '/var/cache/upsfleet-hosts';

/** What a host needs: systemd as PID 1, SSH and Python for Ansible, sudo for become, iproute2 to look around. */
export const BASE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'python3',
  'python3-apt',
  'sudo',
  'iproute2',
  'procps',
];

/** The non-root account Ansible may log in as (sudo without password, as cloud images do). */
export const DEPLOY_USER = 'deploy';

// Run inside the new root ($1) after the packages: static networking by systemd-networkd on host0 (nspawn's
// end of the veth; each host gets its own .network file at boot), the deploy user, no apt recommends.
const CUSTOMIZE = [
  'chroot "$1" systemctl enable systemd-networkd.service',
  `chroot "$1" useradd --create-home --shell /bin/bash ${DEPLOY_USER}`,
  `printf '%s ALL=(ALL) NOPASSWD: ALL\\n' ${DEPLOY_USER} > "$1/etc/sudoers.d/${DEPLOY_USER}"`,
  `chmod 0440 "$1/etc/sudoers.d/${DEPLOY_USER}"`,
  `printf 'APT::Install-Recommends "false";\\n' > "$1/etc/apt/apt.conf.d/90-no-recommends"`,
  // every host gets its own machine id at first boot
  'rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"',
];

export interface BaseRoot {
  path: string;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
}

/** The cached root for these archives, built first if missing (one builder at a time, under a lock). */
export async function ensureBaseRoot(sources: readonly AptSource[]): Promise<BaseRoot> {
  const lines = sourcesListLines(sources);
  const options = [
    '--variant=apt',
    '--mode=root',
    // keep the package lists: a host can install at once, as a real one whose lists are fresh
    '--skip=cleanup/apt/lists',
    `--include=${BASE_PACKAGES.join(',')}`,
    ...CUSTOMIZE.map((c) => `--customize-hook=${c}`),
  ];
  // the key covers everything that makes the root: options, packages, hooks and archives
  const key = createHash('sha256').update(JSON.stringify({ options, lines })).digest('hex').slice(0, 16);
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, `root-${key}`);
  if (existsSync(join(path, 'usr/lib/systemd/systemd'))) return { path, built: false };
  const temp = `${path}.build-${process.pid}`;
  const mmdebstrap = ['mmdebstrap', ...options, 'bookworm', temp, ...lines];
  // flock: a second test file waiting for the same root finds it built when it gets the lock
  const script =
    'final="$1"; temp="$2"; shift 2; test -e "$final/usr/lib/systemd/systemd" && exit 0; ' +
    'rm -rf "$temp" "$final"; "$@" && mv "$temp" "$final"';
  await run('flock', [join(CACHE_DIR, '.build.lock'), 'sh', '-c', script, 'sh', path, temp, ...mmdebstrap], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  });
  return { path, built: true };
}
