/**
 * Per-address limits in front of every listener: at most N open connections from one IP, and after
 * `authFailures` failed authentications an address is refused for a backoff that doubles with each
 * further failure (1 s, 2 s, 4 s ... up to maxBackoff). A success clears the address's record.
 * Time comes from the injected clock, so tests move a clock instead of sleeping.
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

/** IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function normalizeIp(ip: string | undefined): string {
  return (ip ?? 'unknown').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

export class AddressGuard {
  private readonly byIp = new Map<string, Record_>();
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

  /** A failed authentication; returns the backoff now in force (0 while under the threshold). */
  authFailed(ip: string): number {
    const r = this.rec(ip);
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

  authSucceeded(ip: string): void {
    const r = this.byIp.get(ip);
    if (!r) return;
    r.failures = 0;
    r.blockedUntil = 0;
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
