/**
 * Per-address limits in front of every listener: at most N open connections from one IP, and after
 * `authFailures` failed authentications an address is refused for a backoff that doubles with each
 * further failure (1 s, 2 s, 4 s ... up to maxBackoff). A success clears the address's record.
 *
 * Failures that name an identity (the agent id of a hello, "admin" on the API) are keyed by address *and*
 * identity: one misconfigured agent behind a shared address (NAT) backs off itself (`mayTry` refuses its
 * next attempts without verifying them) but not its neighbours. Each new identity failing from an address
 * counts once against the address itself, so guessing identities from one address still gets the whole
 * address refused. Time comes from the injected clock, so tests move a clock instead of sleeping.
 */
import type { Clock } from '../../shared/clock.js';

export interface AddressGuardOptions {
  clock: Clock;
  connectionsPerAddress: number;
  authFailures: number;
  maxBackoffMs: number;
  initialBackoffMs?: number;
}

export type Admission =
  | { ok: true }
  | { ok: false; reason: 'connections' | 'auth-backoff'; retryAfterMs: number };

interface Record_ {
  open: number;
  failures: number;
  blockedUntil: number;
}

interface IdentityRecord {
  failures: number;
  blockedUntil: number;
}

/** Identities remembered per address; past this the address is refused anyway (it counts each new one). */
const MAX_IDENTITIES_PER_ADDRESS = 256;

/** IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function normalizeIp(ip: string | undefined): string {
  return (ip ?? 'unknown').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

/** One live connection's remote address:port: how its TLS socket, made later, finds what was kept for it. */
export function connectionKey(socket: { remoteAddress?: string; remotePort?: number }): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
}

export class AddressGuard {
  private readonly byIp = new Map<string, Record_>();
  /** Failures by address, then by identity. */
  private readonly byIdentity = new Map<string, Map<string, IdentityRecord>>();
  private readonly refused = { connections: 0, 'auth-backoff': 0 };

  constructor(private readonly opts: AddressGuardOptions) {}

  private rec(ip: string): Record_ {
    let r = this.byIp.get(ip);
    if (!r) {
      r = { open: 0, failures: 0, blockedUntil: 0 };
      this.byIp.set(ip, r);
    }
    return r;
  }

  /** Whether a new connection from `ip` may proceed; when it may, it is counted open until released. */
  admit(ip: string): Admission {
    const r = this.rec(ip);
    const now = this.opts.clock.now();
    if (r.blockedUntil > now) {
      this.refused['auth-backoff']++;
      return { ok: false, reason: 'auth-backoff', retryAfterMs: r.blockedUntil - now };
    }
    if (r.open >= this.opts.connectionsPerAddress) {
      this.refused.connections++;
      return { ok: false, reason: 'connections', retryAfterMs: 1000 };
    }
    r.open++;
    return { ok: true };
  }

  release(ip: string): void {
    const r = this.byIp.get(ip);
    if (!r) return;
    r.open = Math.max(0, r.open - 1);
    this.forgetIfIdle(ip, r);
  }

  /** Whether `identity` may try to authenticate from `ip` now (refused while its own backoff runs). */
  mayTry(ip: string, identity: string): Admission {
    const r = this.byIdentity.get(ip)?.get(identity);
    const now = this.opts.clock.now();
    if (r && r.blockedUntil > now) {
      this.refused['auth-backoff']++;
      return { ok: false, reason: 'auth-backoff', retryAfterMs: r.blockedUntil - now };
    }
    return { ok: true };
  }

  /**
   * A failed authentication; returns the backoff now in force (0 while under the threshold). With an
   * identity, that identity from that address backs off (see mayTry), and the address counts one failure
   * per new identity; without one, the address itself.
   */
  authFailed(ip: string, identity?: string): number {
    if (identity === undefined) return this.countAgainst(this.rec(ip));
    let ids = this.byIdentity.get(ip);
    if (!ids) {
      ids = new Map();
      this.byIdentity.set(ip, ids);
    }
    let r = ids.get(identity);
    if (!r) {
      // a new identity failing from this address: the address's own count goes up (guessing identities)
      this.countAgainst(this.rec(ip));
      if (ids.size >= MAX_IDENTITIES_PER_ADDRESS) return this.opts.maxBackoffMs;
      r = { failures: 0, blockedUntil: 0 };
      ids.set(identity, r);
    }
    return this.countAgainst(r);
  }

  /** A success clears the identity's record (without one: everything about the address). */
  authSucceeded(ip: string, identity?: string): void {
    if (identity !== undefined) {
      const ids = this.byIdentity.get(ip);
      if (!ids?.delete(identity)) return;
      if (ids.size === 0) this.byIdentity.delete(ip);
      // a fixed agent takes back the one failure it counted against its address (a block in force runs out)
      const r = this.byIp.get(ip);
      if (r) r.failures = Math.max(0, r.failures - 1);
      return;
    }
    this.byIdentity.delete(ip);
    const r = this.byIp.get(ip);
    if (!r) return;
    r.failures = 0;
    r.blockedUntil = 0;
  }

  private countAgainst(r: { failures: number; blockedUntil: number }): number {
    r.failures++;
    const over = r.failures - this.opts.authFailures;
    if (over < 0) return 0;
    const backoff = Math.min(
      (this.opts.initialBackoffMs ?? 1000) * 2 ** Math.min(over, 30),
      this.opts.maxBackoffMs,
    );
    r.blockedUntil = this.opts.clock.now() + backoff;
    return backoff;
  }

  /** Connections refused so far, by reason (for /status). */
  stats(): { connections: number; 'auth-backoff': number; blockedAddresses: number } {
    const now = this.opts.clock.now();
    let blocked = 0;
    for (const r of this.byIp.values()) if (r.blockedUntil > now) blocked++;
    return { ...this.refused, blockedAddresses: blocked };
  }

  private forgetIfIdle(ip: string, r: Record_): void {
    if (r.open === 0 && r.failures === 0 && r.blockedUntil <= this.opts.clock.now()) this.byIp.delete(ip);
  }
}
