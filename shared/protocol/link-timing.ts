/**
 * What one side measures of a link without trusting the other side's clock (docs/NETWORK.md):
 *  - the round-trip time, from its own send and receive instants (a ping and its pong; a hello and its
 *    welcome), smoothed as TCP does (RFC 6298: srtt and rttvar);
 *  - how long the peer may stay silent before the link is taken for dead: the configured number of ping
 *    intervals, plus twice the RTT (a pong to the last ping is on its way for one RTT; a link that slows
 *    down further gets as much again), within bounds;
 *  - the peer's clock skew: its `ts` against the middle of our send and receive instants (NTP's rule),
 *    keeping the sample taken on the fastest round trip (the least uncertain one). Reported, never a
 *    reason to refuse anything.
 */

/** Smoothing of RFC 6298 (alpha 1/8, beta 1/4); the first sample sets srtt and srtt / 2 as the variation. */
export class RttEstimator {
  private srtt: number | null = null;
  private rttvar = 0;
  private last: number | null = null;
  private count = 0;

  sample(ms: number): void {
    const r = Math.max(0, ms);
    this.last = r;
    this.count++;
    if (this.srtt === null) {
      this.srtt = r;
      this.rttvar = r / 2;
      return;
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
    this.srtt = 0.875 * this.srtt + 0.125 * r;
  }

  /** Smoothed RTT (ms), null before the first sample. */
  get smoothedMs(): number | null {
    return this.srtt === null ? null : Math.round(this.srtt);
  }

  get lastMs(): number | null {
    return this.last;
  }

  get samples(): number {
    return this.count;
  }

  /** A high estimate of the next round trip: srtt + 4 × rttvar (TCP's RTO rule), at least the last sample. */
  get highMs(): number | null {
    if (this.srtt === null) return null;
    return Math.round(Math.max(this.srtt + 4 * this.rttvar, this.last ?? 0));
  }
}

export interface LivenessSettings {
  pingIntervalMs: number;
  /** Ping intervals a peer may let pass without a word before the RTT is even counted (default 2). */
  missedPongs: number;
  /** Never wait longer than this for a silent peer, however slow its link. */
  maxSilenceMs: number;
}

export const DEFAULT_MISSED_PONGS = 2;
export const DEFAULT_MAX_SILENCE_MS = 120_000;

/**
 * How long a peer may stay silent before its link is dropped: (missedPongs + 1) ping intervals, plus twice
 * the high RTT estimate when one is known; at least the first term, at most maxSilenceMs (itself never
 * below the first term). With 5 s pings: 15 s on a LAN, 35 s over a 10 s round trip.
 */
export function livenessAllowanceMs(s: LivenessSettings, rttHighMs: number | null): number {
  const base = (s.missedPongs + 1) * s.pingIntervalMs;
  const wanted = base + 2 * Math.max(0, rttHighMs ?? 0);
  return Math.min(wanted, Math.max(base, s.maxSilenceMs));
}

/** The peer's clock minus ours, from one exchange timed on our clock (sentAt, receivedAt) and its `ts`. */
export function skewSampleMs(peerTs: number, sentAt: number, receivedAt: number): number {
  return Math.round(peerTs - (sentAt + receivedAt) / 2);
}

/** Keeps the skew measured on the fastest round trip of the last `window` exchanges. */
export class SkewEstimator {
  private readonly recent: Array<{ rtt: number; skew: number }> = [];

  constructor(private readonly window = 8) {}

  sample(peerTs: number, sentAt: number, receivedAt: number): void {
    this.recent.push({
      rtt: Math.max(0, receivedAt - sentAt),
      skew: skewSampleMs(peerTs, sentAt, receivedAt),
    });
    if (this.recent.length > this.window) this.recent.shift();
  }

  /** The best estimate (ms, the peer's clock minus ours), null before the first exchange. */
  get skewMs(): number | null {
    let best: { rtt: number; skew: number } | null = null;
    for (const s of this.recent) if (best === null || s.rtt < best.rtt) best = s;
    return best?.skew ?? null;
  }
}
