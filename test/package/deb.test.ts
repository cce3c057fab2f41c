/**
 * The Debian package (scripts/build-deb.mjs) installed for real with `apt install ./upsfleet_*.deb` into a
 * throwaway Debian 12 root (mmdebstrap from the machine's own Debian mirror, with Debian's nodejs; cached
 * between runs), entered with chroot: the commands run there on Debian's node, the system user exists, the
 * configs are conffiles owned by its group, the units are installed but not enabled, purge removes it all.
 * lintian checks the package when installed. Needs root, dpkg-deb, mmdebstrap and a built dist/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { debianMirror } from './debian-mirror.js';

const ROOT = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const CACHE = process.env.UPSFLEET_DEB_TEST_CACHE ?? '/var/cache/upsfleet-deb-test';
/** Everything the package depends on, so `apt install ./deb` needs no network inside the root. */
const BASE_PACKAGES = ['nodejs', 'adduser'];

const has = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0;

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not root: installing into a chroot needs root';
  for (const p of ['dpkg-deb', 'mmdebstrap', 'chroot', 'tar', 'mount'])
    if (!has(p)) return `${p} not installed (Debian packages dpkg, mmdebstrap, coreutils, mount)`;
  if (!existsSync(join(ROOT, 'dist/upsfleet.cjs')) || !existsSync(join(ROOT, 'dist/master')))
    return 'dist/ not built: run npm run build (npm test does)';
  return null;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...opts });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/** A Debian 12 root tarball with BASE_PACKAGES, built once per mirror and package list. */
function baseRootTarball(): string {
  const { uri, suite } = debianMirror();
  const key = Buffer.from(`${uri} ${suite} ${BASE_PACKAGES.join(',')}`)
    .toString('base64url')
    .slice(0, 40);
  const tarball = join(CACHE, `root-${key}.tar`);
  if (existsSync(tarball)) {
    if (statSync(tarball).isFile()) return tarball;
    // a directory left by an mmdebstrap that guessed its format from the `.partial` name: built again below
    rmSync(tarball, { recursive: true, force: true });
  }
  mkdirSync(CACHE, { recursive: true });
  const partial = `${tarball}.${process.pid}.partial`;
  const r = sh('mmdebstrap', [
    '--variant=apt',
    // the output's name ends in `.partial`: without this mmdebstrap takes it for a directory
    '--format=tar',
    `--include=${BASE_PACKAGES.join(',')}`,
    // the machine's apt settings for its mirror (a snapshot may carry an old Valid-Until)
    '--aptopt=Acquire::Check-Valid-Until "false"',
    '--aptopt=Acquire::Check-Date "false"',
    suite,
    partial,
    `deb ${uri} ${suite} main`,
  ]);
  assert.equal(r.code, 0, `mmdebstrap failed:\n${r.stderr.slice(-3000)}`);
  renameSync(partial, tarball);
  return tarball;
}

describe('Debian package', { timeout: 900_000 }, () => {
  const why = missing();
  const work = mkdtempSync(join(tmpdir(), 'upsfleet-deb-'));
  const root = join(work, 'root');
  let deb = '';
  let procMounted = false;
  /** Runs a command inside the installed root. */
  const inRoot = (...args: string[]) => sh('chroot', [root, ...args]);

  before(() => {
    if (why) return;
    const built = sh(process.execPath, [join(ROOT, 'scripts/build-deb.mjs'), join(work, 'out')]);
    assert.equal(built.code, 0, built.stderr);
    deb = built.stdout.trim();
    mkdirSync(root);
    const untar = sh('tar', ['-xf', baseRootTarball(), '-C', root]);
    assert.equal(untar.code, 0, untar.stderr);
    procMounted = sh('mount', ['-t', 'proc', 'proc', join(root, 'proc')]).code === 0;
  });

  after(() => {
    if (procMounted) sh('umount', ['-l', join(root, 'proc')]);
    rmSync(work, { recursive: true, force: true });
  });

  it('is named upsfleet_VERSION_all.deb and built by dpkg-deb with its control files', (t) => {
    if (why) return t.skip(why);
    assert.equal(deb.split('/').at(-1), `upsfleet_${VERSION.replace('-', '~')}_all.deb`);
    const info = sh('dpkg-deb', ['--field', deb, 'Package', 'Architecture', 'Depends']);
    assert.match(info.stdout, /^Package: upsfleet\nArchitecture: all\nDepends: nodejs \(>= 18\), adduser\n$/);
    assert.equal(
      sh('dpkg-deb', ['--info', deb, 'conffiles']).stdout,
      '/etc/upsfleet/master.yaml\n/etc/upsfleet/agent.yaml\n',
    );
  });

  it('installs with apt install ./upsfleet_*.deb and runs on Debian 12 node: --version, config check', (t) => {
    if (why) return t.skip(why);
    copyFileSync(deb, join(root, 'tmp', 'upsfleet.deb'));
    const install = sh('chroot', [
      root,
      'sh',
      '-c',
      'cd /tmp && apt install -y --no-install-recommends ./upsfleet.deb',
    ]);
    assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
    assert.equal(inRoot('upsfleet', '--version').stdout, `${VERSION}\n`);
    assert.equal(inRoot('upsfleet-agent', '--version').stdout, `${VERSION}\n`);
    assert.match(
      inRoot('node', '--version').stdout,
      /^v18\./,
      'Debian 12 nodejs is 18: the bundles must run there',
    );
    const master = inRoot('upsfleet', 'config', 'check', '/etc/upsfleet/master.yaml');
    assert.equal(master.code, 0, master.stderr);
    assert.equal(master.stdout, '/etc/upsfleet/master.yaml: valid master configuration\n');
    // the agent example names /etc/upsfleet/agent.token: the first thing a user writes
    writeFileSync(join(root, 'etc/upsfleet/agent.token'), 'a-token-of-the-master-0123456789\n', {
      mode: 0o600,
    });
    for (const cmd of [['upsfleet'], ['upsfleet-agent']]) {
      const agent = inRoot(...cmd, 'config', 'check', '/etc/upsfleet/agent.yaml');
      assert.equal(agent.code, 0, `${cmd}: ${agent.stderr}`);
      assert.equal(agent.stdout, '/etc/upsfleet/agent.yaml: valid agent configuration\n');
    }
    const bad = inRoot('upsfleet-agent', 'config', 'check', '/etc/upsfleet/master.yaml');
    assert.equal(bad.code, 3, bad.stdout);
  });

  it('made the upsfleet system user; /etc/upsfleet and its conffiles belong to its group', (t) => {
    if (why) return t.skip(why);
    const user = inRoot('getent', 'passwd', 'upsfleet').stdout.trim().split(':');
    assert.equal(user[0], 'upsfleet');
    assert.ok(Number(user[2]) < 1000, `a system uid, got ${user[2]}`);
    assert.match(user[6] ?? '', /nologin|false/);
    const gid = Number(inRoot('getent', 'group', 'upsfleet').stdout.split(':')[2]);
    const dir = statSync(join(root, 'etc/upsfleet'));
    assert.equal(dir.mode & 0o7777, 0o750);
    assert.equal(dir.gid, gid);
    const conf = statSync(join(root, 'etc/upsfleet/master.yaml'));
    assert.equal(conf.mode & 0o777, 0o640);
    assert.equal(conf.gid, gid);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} format
    const conffiles = inRoot('dpkg-query', '-W', '-f=${Conffiles}', 'upsfleet').stdout;
    assert.match(conffiles, /\/etc\/upsfleet\/master\.yaml [0-9a-f]{32}/);
    assert.match(conffiles, /\/etc\/upsfleet\/agent\.yaml [0-9a-f]{32}/);
  });

  it('installed the units (pointed at /usr/lib/upsfleet, Debian node), man page, completion, udev rule; enabled nothing', (t) => {
    if (why) return t.skip(why);
    for (const unit of ['upsfleet-master.service', 'upsfleet-agent.service']) {
      const text = readFileSync(join(root, 'lib/systemd/system', unit), 'utf8');
      assert.match(
        text,
        /^ExecStart=\/usr\/bin\/node (--\S+ )*\/usr\/lib\/upsfleet\/upsfleet(-agent)?\.cjs /m,
      );
      assert.doesNotMatch(text, /\/usr\/local/);
      assert.match(text, /^SyslogIdentifier=upsfleet-(master|agent)$/m);
    }
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
    const enabled = existsSync(wants) ? readdirSync(wants).filter((n) => n.startsWith('upsfleet')) : [];
    assert.deepEqual(enabled, [], 'not enabled until configured');
    if (has('systemd-analyze')) {
      const units = ['upsfleet-master.service', 'upsfleet-agent.service'].map((u) =>
        join(root, 'lib/systemd/system', u),
      );
      const verify = sh('systemd-analyze', ['verify', ...units]);
      assert.equal(verify.code, 0, verify.stderr);
    }
    const man = sh('sh', ['-c', `gzip -dc "${join(root, 'usr/share/man/man1/upsfleet.1.gz')}"`]).stdout;
    assert.equal(man, readFileSync(join(ROOT, 'docs/man/upsfleet.1'), 'utf8'));
    assert.ok(existsSync(join(root, 'usr/share/bash-completion/completions/upsfleet')));
    assert.match(
      readFileSync(join(root, 'lib/udev/rules.d/60-upsfleet.rules'), 'utf8'),
      /ATTRS\{idVendor\}=="051d", MODE="0660", GROUP="upsfleet"/,
    );
    assert.ok(existsSync(join(root, 'usr/share/doc/upsfleet/copyright')));
    assert.ok(existsSync(join(root, 'usr/share/doc/upsfleet/examples/master.yaml')));
  });

  it('the packaged master: exit 8 without node-hid (usbhid example), then init + simulated source + plain status', (t) => {
    if (why) return t.skip(why);
    if (!has('unshare') || !has('ip'))
      return t.skip('unshare or ip missing (util-linux, iproute2): no private network');
    // a private network namespace: the master's listener never touches the machine's network
    const inNetns = (script: string) =>
      sh('unshare', ['--net', 'sh', '-c', `ip link set lo up && chroot "${root}" sh -c '${script}'`]);
    const blind = inNetns('upsfleet master -c /etc/upsfleet/master.yaml');
    assert.equal(blind.code, 8, `${blind.stdout}\n${blind.stderr}`);
    assert.match(blind.stderr, /\[HID_UNAVAILABLE\]/);
    assert.match(blind.stdout, /"level":60,.*"msg":"the master could not start"/);
    writeFileSync(
      join(root, 'etc/upsfleet/master.yaml'),
      [
        'master: { id: pkg-test, listen: "127.0.0.1:8740", stateDir: /var/lib/upsfleet }',
        'ups:',
        '  source: { type: simulated, script: "ups.status: OL\\nbattery.charge: 88" }',
        'sequence: []',
        'shutdown: { dryRun: true }',
      ].join('\n'),
    );
    const run = inNetns(
      [
        'upsfleet init master -c /etc/upsfleet/master.yaml >/dev/null || exit 10',
        'upsfleet master -c /etc/upsfleet/master.yaml >/tmp/master.log 2>&1 & pid=$!',
        // wait until it answers (ready), then once more for the output
        'i=0; until upsfleet status >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 150 ] && break; sleep 0.2; done',
        'upsfleet status; rc=$?; kill $pid; wait $pid; exit $rc',
      ].join('\n'),
    );
    assert.equal(
      run.code,
      0,
      `${run.stdout}\n${run.stderr}\n${readFileSync(join(root, 'tmp/master.log'), 'utf8')}`,
    );
    assert.match(run.stdout, /^battery\.charge: 88$/m);
  });

  it('lintian finds no error in it', (t) => {
    if (why) return t.skip(why);
    if (!has('lintian')) return t.skip('lintian not installed (Debian package lintian)');
    const r = sh('lintian', ['--tag-display-limit', '0', deb]);
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E: '));
    assert.deepEqual(errors, [], r.stdout);
  });

  it('purge removes the program, the units and the conffiles (the user stays, as Debian does)', (t) => {
    if (why) return t.skip(why);
    const purge = inRoot('apt-get', 'purge', '-y', 'upsfleet');
    assert.equal(purge.code, 0, purge.stderr);
    for (const gone of [
      'usr/bin/upsfleet',
      'usr/lib/upsfleet',
      'lib/systemd/system/upsfleet-master.service',
      'etc/upsfleet/master.yaml',
    ])
      assert.ok(!existsSync(join(root, gone)), `${gone} left behind`);
  });
});
