/**
 * A small network made by the test itself: one network namespace per host, all plugged into a bridge
 * that lives in a namespace of its own, and the test's own (root) namespace plugged in too so the test
 * can reach every host. A host is "unplugged" by taking its port on the bridge down: its TCP
 * connections then go silent, as behind a dead switch (no reset, no FIN), which is the fault the
 * network suite is about. Needs root and iproute2; `skipReason()` says why not when it cannot run.
 *
 * Names carry the test process id and a counter, so two labs (two test files) never collide, and a
 * lab only ever deletes what it created.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { claimSubnet } from '../support/subnet-claim.js';

const IP = 'ip';

function ip(args: string[]): void {
  execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why this machine cannot host a lab (null: it can). */
export function netLabSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  const probe = spawnSync(IP, ['-V'], { encoding: 'utf8' });
  if (probe.error) return `iproute2 not available (${probe.error.message})`;
  const name = `ufprobe${process.pid}`;
  const add = spawnSync(IP, ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
  const br = spawnSync(IP, ['-n', name, 'link', 'add', 'br0', 'type', 'bridge'], { encoding: 'utf8' });
  spawnSync(IP, ['netns', 'del', name]);
  if (br.status !== 0) return `cannot create a bridge: ${br.stderr.trim()}`;
  return null;
}

let labs = 0;

export interface NetLab {
  readonly hosts: readonly string[];
  /** The host's address on the lab network. */
  address(host: string): string;
  /** The root namespace's own address on the lab network (where the test's own servers listen). */
  readonly rootAddress: string;
  /** The broadcast address of the lab network. */
  readonly broadcast: string;
  /** Command prefix that runs a program in the host's namespace (`ip netns exec NS`; it execs, so the pid is the program's). */
  wrap(host: string): string[];
  /** The host's namespace name (for `ip netns exec` or `ip -n`). */
  namespace(host: string): string;
  /** Take the host's port on the bridge down: its traffic is silently dropped both ways. */
  unplug(host: string): void;
  plug(host: string): void;
  destroy(): void;
}

export function createNetLab(hosts: readonly string[]): NetLab {
  const lab = `${(process.pid % 46656).toString(36)}${(labs++).toString(36)}`;
  const claim = claimSubnet('10.213', process.pid + labs * 37);
  const net = claim.net;
  const bridgeNs = `uf${lab}-br`;
  const nsOf = new Map(hosts.map((h) => [h, `uf${lab}-${h}`]));
  const addrOf = new Map(hosts.map((h, i) => [h, `${net}.${i + 2}`]));
  // bridge-side end of each host's cable (interface names are at most 15 characters)
  const portOf = new Map(hosts.map((h, i) => [h, `p${lab}x${i}`]));
  const rootIf = `uf${lab}r`;
  const created: string[] = [];
  let rootLink = false;

  const destroy = () => {
    if (rootLink) spawnSync(IP, ['link', 'del', rootIf]);
    rootLink = false;
    for (const ns of created.splice(0).reverse()) spawnSync(IP, ['netns', 'del', ns]);
    claim.release();
  };

  try {
    ip(['netns', 'add', bridgeNs]);
    created.push(bridgeNs);
    ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    ip(['-n', bridgeNs, 'link', 'set', 'lo', 'up']);
    hosts.forEach((host, i) => {
      const ns = nsOf.get(host)!;
      ip(['netns', 'add', ns]);
      created.push(ns);
      const port = portOf.get(host)!;
      ip([
        'link',
        'add',
        `h${lab}x${i}`,
        'netns',
        ns,
        'type',
        'veth',
        'peer',
        'name',
        port,
        'netns',
        bridgeNs,
      ]);
      ip(['-n', ns, 'link', 'set', `h${lab}x${i}`, 'name', 'eth0']);
      ip(['-n', ns, 'addr', 'add', `${addrOf.get(host)}/24`, 'brd', `${net}.255`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', bridgeNs, 'link', 'set', port, 'master', 'br0']);
      ip(['-n', bridgeNs, 'link', 'set', port, 'up']);
    });
    ip(['link', 'add', rootIf, 'type', 'veth', 'peer', 'name', `q${lab}r`, 'netns', bridgeNs]);
    rootLink = true;
    ip(['addr', 'add', `${net}.254/24`, 'dev', rootIf]);
    ip(['link', 'set', rootIf, 'up']);
    ip(['-n', bridgeNs, 'link', 'set', `q${lab}r`, 'master', 'br0']);
    ip(['-n', bridgeNs, 'link', 'set', `q${lab}r`, 'up']);
  } catch (err) {
    destroy();
    throw err;
  }

  const known = (host: string): string => {
    const ns = nsOf.get(host);
    if (!ns) throw new Error(`no host ${host} in this lab (hosts: ${hosts.join(', ')})`);
    return ns;
  };
  return {
    hosts,
    address: (host) => {
      known(host);
      return addrOf.get(host)!;
    },
    rootAddress: `${net}.254`,
    broadcast: `${net}.255`,
    wrap: (host) => [IP, 'netns', 'exec', known(host)],
    namespace: known,
    unplug: (host) => {
      known(host);
      ip(['-n', bridgeNs, 'link', 'set', portOf.get(host)!, 'down']);
    },
    plug: (host) => {
      known(host);
      ip(['-n', bridgeNs, 'link', 'set', portOf.get(host)!, 'up']);
    },
    destroy,
  };
}
