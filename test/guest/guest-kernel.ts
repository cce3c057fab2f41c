/**
 * Debian's packaged kernel for the guest: the linux-image .deb (from the cache, or fetched with
 * `apt-get download` from the machine's own apt sources), unpacked with `dpkg-deb -x` once per package
 * version, and the HID modules the emulator needs (uhid, hid-generic, and what they depend on) in load order.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface GuestKernel {
  /** The .deb it came from (its name carries the package version: the cache key). */
  deb: string;
  vmlinuz: string;
  /** Module files, dependencies first. */
  modules: string[];
}

/** The modules the guest loads: uhid makes /dev/uhid, hid-generic binds the devices so hidraw nodes appear. */
export const WANTED_MODULES = ['uhid', 'hid_generic'];

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The newest linux-image .deb in the cache (by modification time: version strings do not sort as text). */
function findDeb(cacheDir: string): string | undefined {
  const debs = existsSync(cacheDir)
    ? readdirSync(cacheDir)
        .filter((f) => /^linux-image-.*-amd64_.*\.deb$/.test(f) && !f.includes('-dbg'))
        .map((f) => join(cacheDir, f))
    : [];
  return debs.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs).at(-1);
}

/** The concrete image package linux-image-amd64 depends on (e.g. linux-image-6.1.0-57-amd64). */
function imagePackageName(): string {
  const out = run('apt-cache', ['depends', 'linux-image-amd64']);
  const match = /Depends:\s*(linux-image-\S+-amd64)\b/.exec(out);
  if (!match) throw new Error(`apt-cache depends linux-image-amd64 names no image package:\n${out}`);
  return match[1]!;
}

/** Returns the kernel, or a reason why there is none (the suite then skips with it). */
export function prepareKernel(cacheDir: string): GuestKernel | string {
  mkdirSync(cacheDir, { recursive: true });
  let deb = process.env.UPSFLEET_GUEST_KERNEL_DEB ?? findDeb(cacheDir);
  if (!deb) {
    try {
      run('apt-get', ['download', imagePackageName()], cacheDir);
    } catch (err) {
      return `no Debian kernel package: put a linux-image-*-amd64 .deb in ${cacheDir} or let \`apt-get download\` fetch it (${(err as Error).message.split('\n')[0]})`;
    }
    deb = findDeb(cacheDir);
    if (!deb) return `apt-get download put no linux-image .deb in ${cacheDir}`;
  }
  const root = join(cacheDir, `unpacked-${basename(deb, '.deb')}`);
  if (!existsSync(root)) {
    const partial = `${root}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    try {
      run('dpkg-deb', ['-x', deb, partial]);
    } catch (err) {
      return `dpkg-deb -x ${deb} failed: ${(err as Error).message.split('\n')[0]}`;
    }
    renameSync(partial, root);
  }
  const vmlinuz = readdirSync(join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) return `${deb} holds no boot/vmlinuz-*`;
  const version = vmlinuz.slice('vmlinuz-'.length);
  const moduleDir = join(root, 'lib', 'modules', version, 'kernel');
  return {
    deb,
    vmlinuz: join(root, 'boot', vmlinuz),
    modules: modulesInLoadOrder(moduleDir, WANTED_MODULES),
  };
}

function indexModules(dir: string, index = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) indexModules(path, index);
    else if (entry.name.endsWith('.ko')) index.set(entry.name.slice(0, -3).replaceAll('-', '_'), path);
  }
  return index;
}

/** The `depends=` line of a module's .modinfo section (what depmod reads). */
export function moduleDepends(ko: Uint8Array): string[] {
  const text = Buffer.from(ko).toString('latin1');
  const match = /\0depends=([^\0]*)\0/.exec(text);
  return match?.[1]
    ? match[1]
        .split(',')
        .filter(Boolean)
        .map((d) => d.replaceAll('-', '_'))
    : [];
}

export function modulesInLoadOrder(moduleDir: string, wanted: string[]): string[] {
  const index = indexModules(moduleDir);
  const order: string[] = [];
  const visit = (name: string, chain: string[]) => {
    const file = index.get(name);
    if (!file)
      throw new Error(
        `kernel module ${name} not found under ${moduleDir} (needed by ${chain.join(' <- ') || 'the guest'})`,
      );
    if (order.includes(file)) return;
    for (const dep of moduleDepends(readFileSync(file))) visit(dep, [name, ...chain]);
    order.push(file);
  };
  for (const name of wanted) visit(name, []);
  return order;
}
