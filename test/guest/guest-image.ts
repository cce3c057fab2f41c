/**
 * The guest's initramfs, as two gzip'd cpio archives laid end to end (the kernel unpacks both):
 *  - base (cached, keyed by the kernel package, node, busybox and node-hid versions): busybox-static and its
 *    applet links, the node binary with the shared libraries ldd names, node-hid with its prebuilt hidraw
 *    binding (and the libraries it needs: libudev), the HID kernel modules in load order;
 *  - project (built every run, small): /init, the CLI and the guest suite bundled by esbuild from the
 *    TypeScript sources (node-hid stays external, as in the shipped bundle), the fixtures.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from '../../scripts/bundle-options.mjs';
import { type CpioEntry, writeCpioGz } from './cpio.js';
import type { GuestKernel } from './guest-kernel.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUSYBOX = '/bin/busybox';
const APPLETS = [
  'sh',
  'mount',
  'insmod',
  'poweroff',
  'sleep',
  'cat',
  'echo',
  'mkdir',
  'ls',
  'test',
  'uname',
  'dmesg',
  'id',
];
/** node-hid's prebuilt bindings for this machine: HID_hidraw is the one the project selects on Linux. */
const NODE_HID_BINDINGS = ['HID_hidraw-linux-x64', 'HID-linux-x64'];

/** Why the guest cannot get a working hidraw binding, or undefined when it can. */
export function nodeHidProblem(): string | undefined {
  const dir = join(ROOT, 'node_modules', 'node-hid', 'prebuilds', NODE_HID_BINDINGS[0]!);
  if (!existsSync(join(ROOT, 'node_modules', 'node-hid', 'package.json')))
    return 'node-hid is not installed (an optional dependency: `npm ci` installs it)';
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.node')))
    return `node-hid has no prebuilt hidraw binding in ${relative(ROOT, dir)} (npm may have skipped its install script, and no build fallback ran)`;
  return undefined;
}

/** Shared libraries (their paths as the loader looks them up) that ldd names for the given ELF files. */
export function sharedLibraries(files: string[]): string[] {
  const libs = new Set<string>();
  for (const file of files) {
    let out = '';
    try {
      out = execFileSync('ldd', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      continue; // "not a dynamic executable": static, like busybox-static
    }
    for (const line of out.split('\n')) {
      const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (match?.[1]) libs.add(match[1]);
    }
  }
  return [...libs].sort();
}

function* parents(paths: Iterable<string>): Generator<CpioEntry> {
  const seen = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/').filter(Boolean).slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (!seen.has(dir)) {
        seen.add(dir);
        yield { kind: 'dir', path: dir };
      }
    }
  }
}

function fileEntry(from: string, to: string): CpioEntry {
  return { kind: 'file', path: to, data: readFileSync(from), mode: statSync(from).mode & 0o777 };
}

function treeEntries(
  fromDir: string,
  toDir: string,
  keep: (rel: string) => boolean = () => true,
): CpioEntry[] {
  const out: CpioEntry[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(fromDir, path);
      if (!keep(rel)) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) out.push(fileEntry(path, join(toDir, rel)));
    }
  };
  walk(fromDir);
  return out;
}

/** Every directory the entries need, shallowest first (the kernel's unpacker makes no missing parents). */
function withParents(entries: CpioEntry[]): CpioEntry[] {
  const dirs = new Map<string, CpioEntry>();
  for (const d of parents(entries.map((e) => e.path))) dirs.set(d.path, d);
  for (const e of entries) if (e.kind === 'dir') dirs.set(e.path, e);
  const depth = (p: string) => p.split('/').length;
  const sorted = [...dirs.values()].sort((a, b) => depth(a.path) - depth(b.path));
  return [...sorted, ...entries.filter((e) => e.kind !== 'dir')];
}

function baseEntries(kernel: GuestKernel): CpioEntry[] {
  const nodeHid = join(ROOT, 'node_modules', 'node-hid');
  const bindingFiles = NODE_HID_BINDINGS.flatMap((b) =>
    existsSync(join(nodeHid, 'prebuilds', b))
      ? readdirSync(join(nodeHid, 'prebuilds', b)).map((f) => join(nodeHid, 'prebuilds', b, f))
      : [],
  );
  const libs = sharedLibraries([
    process.execPath,
    BUSYBOX,
    ...bindingFiles.filter((f) => f.endsWith('.node')),
  ]);
  const entries: CpioEntry[] = [
    ...['/dev', '/proc', '/sys', '/tmp', '/modules', '/fixtures', '/upsfleet'].map((path) => ({
      kind: 'dir' as const,
      path,
    })),
    // the kernel opens /dev/console for /init before anything is mounted
    { kind: 'char', path: '/dev/console', major: 5, minor: 1 },
    fileEntry(BUSYBOX, '/bin/busybox'),
    ...APPLETS.map((a) => ({ kind: 'symlink' as const, path: `/bin/${a}`, target: 'busybox' })),
    {
      kind: 'file',
      path: '/etc/passwd',
      data: Buffer.from('root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n'),
    },
    { kind: 'file', path: '/etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    fileEntry(process.execPath, '/usr/bin/node'),
    ...libs.map((lib) => fileEntry(lib, lib)),
    ...kernel.modules.map((ko, i) => fileEntry(ko, `/modules/${String(i).padStart(2, '0')}-${basename(ko)}`)),
    ...treeEntries(nodeHid, '/upsfleet/node_modules/node-hid', (rel) => {
      const top = rel.split('/')[0]!;
      if (top === 'prebuilds')
        return rel === 'prebuilds' || NODE_HID_BINDINGS.includes(rel.split('/')[1] ?? '');
      return ['package.json', 'nodehid.js', 'binding-options.js'].includes(rel);
    }),
    ...treeEntries(join(ROOT, 'node_modules', 'pkg-prebuilds'), '/upsfleet/node_modules/pkg-prebuilds'),
  ];
  return withParents(entries);
}

function versionOf(pkg: string): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return 'absent';
  }
}

/** The cached base archive (built when its key is new). */
export async function baseArchive(kernel: GuestKernel, cacheDir: string): Promise<string> {
  const stamp = (f: string) => `${f}:${statSync(f).size}:${statSync(f).mtimeMs}`;
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        format: 4,
        kernel: basename(kernel.deb),
        modules: kernel.modules.map((m) => basename(m)),
        node: [process.version, stamp(process.execPath)],
        busybox: stamp(BUSYBOX),
        nodeHid: versionOf('node-hid'),
        pkgPrebuilds: versionOf('pkg-prebuilds'),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const file = join(cacheDir, `base-${key}.cpio.gz`);
  if (!existsSync(file)) {
    const partial = `${file}.partial-${process.pid}`;
    await writeCpioGz(partial, baseEntries(kernel), 1);
    renameSync(partial, file);
    // one base at a time: an older one (another node, kernel or node-hid) is 40 MB nobody needs
    for (const old of readdirSync(cacheDir))
      if (/^base-[0-9a-f]{16}\.cpio\.gz$/.test(old) && join(cacheDir, old) !== file)
        rmSync(join(cacheDir, old), { force: true });
  }
  return file;
}

export const GUEST_BUNDLES: Record<string, string> = {
  'upsfleet.cjs': 'cli/main.ts',
  'guest-suite.cjs': 'test/guest/in-guest/hid-kernel.guest.ts',
  'binding-contract.cjs': 'test/unit/hid/binding-contract.test.ts',
};

async function bundle(entry: string, outfile: string): Promise<void> {
  const hashbang = readFileSync(join(ROOT, entry), 'utf8').startsWith('#!') ? '' : '#!/usr/bin/env node\n';
  // bundled as the shipped artefacts are (scripts/bundle-options.mjs), for the guest's Node.js 20
  await build({
    ...bundleOptions({ root: ROOT, entry, outfile, target: 'node20', hashbang }),
    logLevel: 'error',
  });
}

/** Builds the project archive in `workDir` and returns the initrd (base + project). */
export async function buildInitrd(
  kernel: GuestKernel,
  cacheDir: string,
  workDir: string,
  fixturesDir: string,
): Promise<string> {
  mkdirSync(workDir, { recursive: true });
  const base = await baseArchive(kernel, cacheDir);
  const outDir = join(workDir, 'bundles');
  for (const [name, entry] of Object.entries(GUEST_BUNDLES)) await bundle(entry, join(outDir, name));
  const here = join(ROOT, 'test', 'guest', 'in-guest');
  const project: CpioEntry[] = [
    { kind: 'file', path: '/init', data: readFileSync(join(here, 'init.sh')), mode: 0o755 },
    fileEntry(join(here, 'guest-reporter.mjs'), '/upsfleet/guest-reporter.mjs'),
    ...Object.keys(GUEST_BUNDLES).map((name) => fileEntry(join(outDir, name), `/upsfleet/${name}`)),
    ...readdirSync(fixturesDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => fileEntry(join(fixturesDir, f), `/fixtures/${f}`)),
  ];
  const projectFile = join(workDir, 'project.cpio.gz');
  // inode numbers apart from the base archive's
  await writeCpioGz(projectFile, project, 1_000_000);
  const initrd = join(workDir, 'initrd.img');
  copyFileSync(base, initrd);
  appendFileSync(initrd, readFileSync(projectFile));
  return initrd;
}
