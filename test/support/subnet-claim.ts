/**
 * Claims a /24 for a test network so that two test processes never pick the same one. Reading the routes
 * is not enough: two labs started together both see a subnet as free before either adds its address
 * (the runner runs two test files at once). A claim is a directory made with mkdir, which is atomic, holding
 * the claimer's pid; a claim whose process is gone (a test killed by the runner's timeout) is taken over.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CLAIMS_DIR = '/run/upsfleet-test-subnets';

export interface SubnetClaim {
  /** The first three octets, e.g. `10.213.7`. */
  readonly net: string;
  /** The claim's directory (an orphan reaper removes it when the claimer died without release()). */
  readonly path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether this machine already uses the subnet (an address or a route in it). */
function inUse(net: string): boolean {
  const text =
    execFileSync('ip', ['-4', 'addr', 'show'], { encoding: 'utf8' }) +
    execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  return text.includes(`${net}.`);
}

function tryClaim(path: string): boolean {
  try {
    mkdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(path, 'pid'), 'utf8'));
    } catch {
      // no pid yet: a live claimer between its mkdir and its write, unless the claim is old (it died there)
      const made = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
      if (Date.now() - made < 60_000) return false;
    }
    if (Number.isInteger(owner) && alive(owner)) return false;
    rmSync(path, { recursive: true, force: true });
    try {
      mkdirSync(path);
    } catch {
      return false; // another process took the stale claim over first
    }
  }
  writeFileSync(join(path, 'pid'), String(process.pid));
  return true;
}

/** A free `prefix.N.0/24` (N in 1..250), held until release(). `seed` spreads concurrent callers apart. */
export function claimSubnet(prefix: string, seed: number): SubnetClaim {
  mkdirSync(CLAIMS_DIR, { recursive: true });
  for (let i = 0; i < 250; i++) {
    const net = `${prefix}.${((seed + i) % 250) + 1}`;
    const path = join(CLAIMS_DIR, net);
    if (!tryClaim(path)) continue;
    if (inUse(net)) {
      rmSync(path, { recursive: true, force: true });
      continue;
    }
    return { net, path, release: () => rmSync(path, { recursive: true, force: true }) };
  }
  throw new Error(`no free ${prefix}.x.0/24 subnet for a test network (claims in ${CLAIMS_DIR})`);
}
