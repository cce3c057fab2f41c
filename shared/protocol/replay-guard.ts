/**
 * Replay and ordering rule for inbound messages on one connection (documented in docs/SECURITY.md):
 *  1. `id` must not repeat: the last `window` ids of the connection are remembered (a duplicate is PROTO_REPLAY);
 *  2. `ts` must not go backwards by more than `backwardToleranceMs` from the highest ts seen on the
 *     connection (out of order, PROTO_STALE) — a small tolerance absorbs a wall-clock step;
 *  3. `ts` must be within `maxSkewMs` of the receiver's clock, in either direction (too old or from the
 *     future, PROTO_STALE).
 * TLS already stops an outsider from replaying captured frames; this stops a confused or malicious
 * peer (or a proxy) from re-playing an ack or going-down inside a session, and stale ones across sessions.
 */
import type { ErrorCode } from '../errors.js';

export interface ReplayGuardOptions {
  maxSkewMs: number;
  window?: number;
  backwardToleranceMs?: number;
}

export type ReplayVerdict =
  | { ok: true }
  | { ok: false; code: Extract<ErrorCode, 'PROTO_REPLAY' | 'PROTO_STALE'>; reason: string };

export class ReplayGuard {
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];
  private highestTs = -Infinity;

  constructor(private readonly opts: ReplayGuardOptions) {}

  check(msg: { id: string; ts: number }, now: number): ReplayVerdict {
    if (this.seen.has(msg.id))
      return {
        ok: false,
        code: 'PROTO_REPLAY',
        reason: `message id ${msg.id.slice(0, 40)} seen before on this connection`,
      };
    const skew = msg.ts - now;
    if (Math.abs(skew) > this.opts.maxSkewMs) {
      return {
        ok: false,
        code: 'PROTO_STALE',
        reason: `ts is ${Math.round(skew / 1000)} s from the master's clock (allowed ±${Math.round(this.opts.maxSkewMs / 1000)} s); check the clocks (NTP)`,
      };
    }
    if (msg.ts < this.highestTs - (this.opts.backwardToleranceMs ?? 2000)) {
      return {
        ok: false,
        code: 'PROTO_STALE',
        reason: `ts ${msg.ts} is before an earlier message's ${this.highestTs} (out of order)`,
      };
    }
    this.highestTs = Math.max(this.highestTs, msg.ts);
    this.seen.add(msg.id);
    this.order.push(msg.id);
    if (this.order.length > (this.opts.window ?? 4096)) this.seen.delete(this.order.shift()!);
    return { ok: true };
  }
}
