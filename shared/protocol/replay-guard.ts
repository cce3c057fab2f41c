/**
 * Replay and ordering rule for inbound messages on one connection (documented in docs/SECURITY.md). It
 * never looks at a clock: a peer whose clock is hours off is served like any other (its skew is measured
 * and reported, shared/protocol/link-timing.ts).
 *  1. `id` must not repeat: the last `window` ids of the connection are remembered (PROTO_REPLAY);
 *  2. once the connection is bound to a session (the master's welcome carries a random `sid` to an agent
 *     that announced the `seq` capability), every message must carry that `sid` (a frame from another
 *     connection is PROTO_REPLAY) and a `seq` above the previous one's (PROTO_STALE: re-ordered or repeated).
 * A peer without the capability (an older agent or master) is held to rule 1 only.
 * TLS already stops an outsider from replaying captured frames; this stops a confused or malicious
 * peer (or a proxy) from re-playing an ack or going-down inside a session, or one session's into another.
 */
import type { ErrorCode } from '../errors.js';

/** The capability an agent announces in hello when it numbers its messages and checks the master's. */
export const SEQ_CAPABILITY = 'seq';

export interface ReplayGuardOptions {
  window?: number;
}

export type ReplayVerdict =
  | { ok: true }
  | { ok: false; code: Extract<ErrorCode, 'PROTO_REPLAY' | 'PROTO_STALE'>; reason: string };

export class ReplayGuard {
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];
  private sid: string | null = null;
  private lastSeq = 0;

  constructor(private readonly opts: ReplayGuardOptions = {}) {}

  /** From now on every message must carry this session id and a growing sequence number. */
  bind(sid: string): void {
    this.sid = sid;
    this.lastSeq = 0;
  }

  get bound(): boolean {
    return this.sid !== null;
  }

  check(msg: { id: string; seq?: number; sid?: string }): ReplayVerdict {
    if (this.seen.has(msg.id))
      return {
        ok: false,
        code: 'PROTO_REPLAY',
        reason: `message id ${msg.id.slice(0, 40)} seen before on this connection`,
      };
    if (this.sid !== null) {
      if (msg.sid !== this.sid)
        return {
          ok: false,
          code: 'PROTO_REPLAY',
          reason:
            msg.sid === undefined
              ? 'message without the session id of this connection'
              : 'message of another session (its sid is not this connection’s)',
        };
      if (msg.seq === undefined || msg.seq <= this.lastSeq)
        return {
          ok: false,
          code: 'PROTO_STALE',
          reason: `seq ${msg.seq ?? 'missing'} is not above the previous ${this.lastSeq} (out of order or repeated)`,
        };
      this.lastSeq = msg.seq;
    }
    this.seen.add(msg.id);
    this.order.push(msg.id);
    if (this.order.length > (this.opts.window ?? 4096)) this.seen.delete(this.order.shift()!);
    return { ok: true };
  }
}
