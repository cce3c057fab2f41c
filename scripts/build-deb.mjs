#!/usr/bin/env node
// `npm run package:deb`: dist/upsfleet_VERSION_all.deb, built with dpkg-deb from what `npm run build` made.
//   /usr/lib/upsfleet/          upsfleet.cjs, upsfleet-agent.cjs (the esbuild bundles) and dashboard/
//   /usr/bin/upsfleet, /usr/bin/upsfleet-agent   run the bundles with Debian's node (package nodejs)
//   /lib/systemd/system/        the units of deploy/systemd, pointed at /usr/lib/upsfleet; installed, not enabled
//   /lib/udev/rules.d/          hidraw nodes of known UPS vendors readable by the upsfleet group
//   /etc/upsfleet/              master.yaml, agent.yaml (the examples): conffiles, kept across upgrades
//   /usr/share/man, bash-completion, doc (README, docs/, examples/, copyright)
// Maintainer scripts: the upsfleet system user and group (adduser; sysusers.d for systemd), nothing started.
// The usbhid source needs node-hid (native, not in Debian): `npm i --prefix /usr/lib/upsfleet node-hid`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { agentNodeFlags } from './agent-node-flags.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
/** Debian orders `~` before anything: 1.0.0~rc1 < 1.0.0, as semver's 1.0.0-rc1 < 1.0.0. */
const DEB_VERSION = pkg.version.replace('-', '~');
const LIB = '/usr/lib/upsfleet';
const MAINTAINER = 'upsfleet maintainers <maintainers@upsfleet.invalid>';

function need(path) {
  if (!existsSync(join(ROOT, path))) throw new Error(`${path} is missing: run npm run build first`);
  return join(ROOT, path);
}

function put(stage, path, content, mode = 0o644) {
  const file = join(stage, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

function copy(stage, from, path, mode = 0o644) {
  put(stage, path, readFileSync(from), mode);
}

/** Debian wants compressed docs reproducible: no name, no time stamp in the gzip header. */
function gz(buf) {
  const out = gzipSync(buf, { level: 9 });
  out.writeUInt32LE(0, 4); // MTIME
  return out;
}

/** The shipped units run the bundles from /usr/lib/upsfleet with Debian's node. */
function debianUnit(text) {
  return text.replaceAll('/usr/local/lib/upsfleet', LIB);
}

async function udevRules() {
  const { KNOWN_UPS_VENDOR_IDS } = await import(
    new URL('../dist/master/sources/usbhid/mapping/vendor-tables.js', import.meta.url).href
  );
  return [
    '# upsfleet: the hidraw nodes of known UPS vendors are readable and writable by the upsfleet group',
    '# (the master unit runs as root and needs no rule; this is for `upsfleet probe` run by group members).',
    '# A rule for exactly one UPS: `upsfleet udev-rule` (in /etc/udev/rules.d, it overrides nothing here).',
    ...[...KNOWN_UPS_VENDOR_IDS]
      .sort()
      .map((v) => `SUBSYSTEM=="hidraw", ATTRS{idVendor}=="${v}", MODE="0660", GROUP="upsfleet"`),
    '',
  ].join('\n');
}

const POSTINST = `#!/bin/sh
# upsfleet postinst: the system user, permissions of /etc/upsfleet, systemd and udev told about new files.
# Nothing is enabled or started: the services run once configured (systemctl enable --now upsfleet-master).
set -e
if [ "$1" = configure ]; then
  if ! getent passwd upsfleet >/dev/null; then
    adduser --system --group --quiet --home /var/lib/upsfleet --no-create-home \\
      --gecos "upsfleet UPS shutdown coordinator" upsfleet
  fi
  if ! dpkg-statoverride --list /etc/upsfleet >/dev/null 2>&1; then
    chown root:upsfleet /etc/upsfleet
    chmod 0750 /etc/upsfleet
  fi
  for f in /etc/upsfleet/master.yaml /etc/upsfleet/agent.yaml; do
    if [ -f "$f" ] && ! dpkg-statoverride --list "$f" >/dev/null 2>&1; then
      chown root:upsfleet "$f"
      chmod 0640 "$f"
    fi
  done
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
  fi
  if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules >/dev/null 2>&1 || true
  fi
fi
exit 0
`;

const PRERM = `#!/bin/sh
# upsfleet prerm: a removed package stops its services (an upgrade leaves them running until restarted).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ] && command -v deb-systemd-invoke >/dev/null 2>&1; then
  deb-systemd-invoke stop upsfleet-master.service upsfleet-agent.service >/dev/null || true
fi
exit 0
`;

const POSTRM = `#!/bin/sh
# upsfleet postrm: systemd forgets the removed units; purge forgets whether they were enabled.
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null 2>&1; then
  deb-systemd-helper purge upsfleet-master.service upsfleet-agent.service >/dev/null || true
fi
exit 0
`;

function control(installedKb) {
  return `Package: upsfleet
Version: ${DEB_VERSION}
Architecture: all
Maintainer: ${MAINTAINER}
Installed-Size: ${installedKb}
Depends: nodejs (>= 18), adduser
Recommends: systemd
Suggests: nut-client
Section: admin
Priority: optional
Description: ordered, confirmed shutdown of a fleet of machines sharing a UPS
 A master on the host the UPS is plugged into reads the UPS (USB HID, an
 existing NUT upsd, or a simulation) and, when it becomes critical, orders
 the agents of the fleet down group by group, waits for each to be
 confirmed down, goes last and tells the UPS to cut and restore the load.
 It serves the NUT protocol so stock NUT clients follow it too.
 .
 This package installs the master and the agent (upsfleet-master.service,
 upsfleet-agent.service) without enabling them: configure
 /etc/upsfleet/master.yaml or agent.yaml, then systemctl enable --now.
`;
}

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: upsfleet
Comment: the bundles in /usr/lib/upsfleet also contain the npm packages upsfleet depends on
 (their licenses are MIT, ISC, BSD-2-Clause, BSD-3-Clause or Apache-2.0; see package-lock.json).

Files: *
Copyright: the upsfleet authors
License: ${pkg.license}

License: MIT
${readFileSync(join(ROOT, 'LICENSE'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
  .join('\n')}
`;

function changelog() {
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000 || Date.now()).toUTCString();
  return `upsfleet (${DEB_VERSION}) unstable; urgency=medium

  * Upstream release ${pkg.version}; built by scripts/build-deb.mjs.

 -- ${MAINTAINER}  ${date.replace('GMT', '+0000')}
`;
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

export async function buildDeb(outDir = join(ROOT, 'dist')) {
  const stage = mkdtempSync(join(tmpdir(), 'upsfleet-deb-'));
  try {
    copy(stage, need('dist/upsfleet.cjs'), `${LIB}/upsfleet.cjs`, 0o755);
    copy(stage, need('dist/upsfleet-agent.cjs'), `${LIB}/upsfleet-agent.cjs`, 0o755);
    cpSync(need('dist/dashboard'), join(stage, LIB, 'dashboard'), { recursive: true });
    for (const [bin, bundle, flags] of [
      ['upsfleet', 'upsfleet.cjs', []],
      ['upsfleet-agent', 'upsfleet-agent.cjs', agentNodeFlags()],
    ])
      put(
        stage,
        `/usr/bin/${bin}`,
        `#!/bin/sh\nexec /usr/bin/node ${[...flags, `${LIB}/${bundle}`].join(' ')} "$@"\n`,
        0o755,
      );
    for (const unit of ['upsfleet-master.service', 'upsfleet-agent.service'])
      put(
        stage,
        `/lib/systemd/system/${unit}`,
        debianUnit(readFileSync(need(`deploy/systemd/${unit}`), 'utf8')),
      );
    put(stage, '/lib/udev/rules.d/60-upsfleet.rules', await udevRules());
    put(
      stage,
      '/usr/lib/sysusers.d/upsfleet.conf',
      'u upsfleet - "upsfleet UPS shutdown coordinator" /var/lib/upsfleet\n',
    );
    copy(stage, need('examples/master.yaml'), '/etc/upsfleet/master.yaml');
    copy(stage, need('examples/agent.yaml'), '/etc/upsfleet/agent.yaml');
    for (const page of ['upsfleet.1', 'upsfleet-agent.1'])
      put(stage, `/usr/share/man/man1/${page}.gz`, gz(readFileSync(need(`docs/man/${page}`))));
    copy(stage, need('deploy/bash-completion/upsfleet'), '/usr/share/bash-completion/completions/upsfleet');
    const doc = '/usr/share/doc/upsfleet';
    put(stage, `${doc}/copyright`, COPYRIGHT);
    // a native package (no Debian revision): changelog.gz
    put(stage, `${doc}/changelog.gz`, gz(Buffer.from(changelog())));
    copy(stage, need('README.md'), `${doc}/README.md`);
    for (const f of readdirSync(need('docs')).filter((n) => n.endsWith('.md')))
      copy(stage, join(ROOT, 'docs', f), `${doc}/docs/${f}`);
    for (const f of readdirSync(need('examples')))
      copy(stage, join(ROOT, 'examples', f), `${doc}/examples/${f}`);

    const files = walk(stage);
    const md5sums = files
      .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(stage, f)}`)
      .join('\n');
    const installedKb = Math.ceil(files.reduce((n, f) => n + statSync(f).size, 0) / 1024);
    put(stage, '/DEBIAN/control', control(installedKb));
    put(stage, '/DEBIAN/conffiles', '/etc/upsfleet/master.yaml\n/etc/upsfleet/agent.yaml\n');
    put(stage, '/DEBIAN/md5sums', `${md5sums}\n`);
    put(stage, '/DEBIAN/postinst', POSTINST, 0o755);
    put(stage, '/DEBIAN/prerm', PRERM, 0o755);
    put(stage, '/DEBIAN/postrm', POSTRM, 0o755);
    // every directory 0755 whatever the umask
    for (const d of [stage, ...walkDirs(stage)]) chmodSync(d, 0o755);

    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `upsfleet_${DEB_VERSION}_all.deb`);
    const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, out], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`dpkg-deb failed: ${r.stderr || r.error}`);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function walkDirs(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [join(dir, e.name), ...walkDirs(join(dir, e.name))]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildDeb(process.argv[2]);
  console.log(out);
}
