/**
 * Where avahi-daemon can be started (.ci/run installs avahi-daemon, avahi-utils and dbus), a stock
 * `avahi-browse -rtp _upsfleet._tcp` sees the master's advertisement. The test makes two network
 * namespaces joined by a veth pair with its own addresses (10.231.77.0/24, nothing leaves them): the
 * master in one, a private avahi-daemon (system D-Bus started if none runs) in the other.
 * Skipped, with the reason, when not root or the tools are missing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { after, it } from 'node:test';

const NS_M = 'upf-avahi-m';
const NS_A = 'upf-avahi-a';
const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 20_000 });
const started: ChildProcess[] = [];
const pids: number[] = [];

function setup(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  for (const tool of ['ip', 'avahi-daemon', 'avahi-browse', 'dbus-daemon', 'dbus-send']) {
    if (sh(`command -v ${tool}`).status !== 0)
      return `${tool} not installed (apt-get install avahi-daemon avahi-utils dbus)`;
  }
  sh(`ip netns del ${NS_M} 2>/dev/null; ip netns del ${NS_A} 2>/dev/null`);
  const net = sh(
    [
      `ip netns add ${NS_M}`,
      `ip netns add ${NS_A}`,
      `ip link add upf-av-m type veth peer name upf-av-a`,
      `ip link set upf-av-m netns ${NS_M}`,
      `ip link set upf-av-a netns ${NS_A}`,
      `ip -n ${NS_M} addr add 10.231.77.1/24 dev upf-av-m`,
      `ip -n ${NS_A} addr add 10.231.77.2/24 dev upf-av-a`,
      `ip -n ${NS_M} link set lo up`,
      `ip -n ${NS_A} link set lo up`,
      `ip -n ${NS_M} link set upf-av-m up`,
      `ip -n ${NS_A} link set upf-av-a up`,
      `ip -n ${NS_M} route add 224.0.0.0/4 dev upf-av-m`,
    ].join(' && '),
  );
  if (net.status !== 0) return `cannot make network namespaces: ${net.stderr.trim()}`;
  const busAlive = () =>
    sh(
      'dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId',
    ).status === 0;
  if (!busAlive()) {
    // no system bus (or a stale socket left by a stopped one): start a private one
    if (existsSync('/run/dbus/system_bus_socket')) rmSync('/run/dbus/system_bus_socket');
    if (existsSync('/run/dbus/pid')) rmSync('/run/dbus/pid');
    mkdirSync('/run/dbus', { recursive: true });
    const d = sh('dbus-daemon --system --fork --print-pid');
    if (d.status !== 0) return `cannot start the system D-Bus: ${d.stderr.trim()}`;
    pids.push(Number(d.stdout.trim()));
  }
  if (sh('pgrep -x avahi-daemon').status === 0)
    return 'an avahi-daemon already runs on this machine (its pid file would clash)';
  writeFileSync(
    '/tmp/upsfleet-avahi-test.conf',
    '[server]\nallow-interfaces=upf-av-a\nuse-ipv6=no\nenable-dbus=yes\n[publish]\ndisable-publishing=yes\n',
  );
  const a = sh(
    `ip netns exec ${NS_A} avahi-daemon --daemonize --no-chroot --no-rlimits -f /tmp/upsfleet-avahi-test.conf`,
  );
  if (a.status !== 0) return `cannot start avahi-daemon: ${a.stderr.trim()}`;
  return null;
}

const why = setup();

after(() => {
  for (const c of started) c.stdin?.end();
  sh(`ip netns exec ${NS_A} avahi-daemon --kill 2>/dev/null`);
  for (const pid of pids) {
    try {
      process.kill(pid);
    } catch {}
  }
  if (pids.length > 0) rmSync('/run/dbus/system_bus_socket', { force: true });
  sh(`ip netns del ${NS_M} 2>/dev/null; ip netns del ${NS_A} 2>/dev/null`);
});

it('avahi-browse -rtp _upsfleet._tcp sees the master (TXT: version, id, fingerprint hint)', {
  skip: why ?? false,
  timeout: 60_000,
}, async () => {
  const master = spawn(
    'ip',
    ['netns', 'exec', NS_M, process.execPath, '--import', 'tsx', 'test/support/advertise-master.ts'],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  started.push(master);
  const info = await new Promise<{ port: number; fingerprint: string }>((resolve, reject) => {
    master.stdout!.once('data', (d) =>
      resolve(JSON.parse(String(d).split('\n')[0]!) as { port: number; fingerprint: string }),
    );
    master.once('exit', (c) => reject(new Error(`master exited ${c}`)));
  });
  let out = '';
  for (let i = 0; i < 10 && !/^=.*_upsfleet\._tcp/m.test(out); i++) {
    out = sh(`ip netns exec ${NS_A} avahi-browse -rtp _upsfleet._tcp`).stdout;
    if (!/^=/m.test(out)) await new Promise((r) => setTimeout(r, 1000));
  }
  const line = out.split('\n').find((l) => l.startsWith('=') && l.includes('_upsfleet._tcp'));
  assert.ok(line, `avahi-browse saw no resolved _upsfleet._tcp:\n${out}`);
  const f = line.split(';');
  assert.equal(f[7], '10.231.77.1');
  assert.equal(f[8], String(info.port));
  assert.match(line, /"v=1"/);
  assert.match(line, /"id=avahi-test"/);
  assert.match(line, new RegExp(`"fp=${info.fingerprint.slice(7, 23)}"`));
  const nut = sh(`ip netns exec ${NS_A} avahi-browse -rtp _nut._tcp`).stdout;
  assert.match(nut, /^=.*_nut\._tcp.*;3493;/m);
});
