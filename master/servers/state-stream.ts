/**
 * The master's state revisions for `state-delta` agents (shared/protocol/state-delta.ts). Every state
 * broadcast is one revision of the run, the same number for every agent, so that one delta frame serves the
 * whole fleet; the stream remembers the latest picture, which the next delta is computed from and which a
 * resync is answered with.
 */
import {
  type DeltaBody,
  diffState,
  type StatePicture,
  samePicture,
} from '../../shared/protocol/state-delta.js';

export interface StateStep {
  rev: number;
  base: number;
  /** What changed since `base`; null when no delta can say it (the first picture, or another UPS). */
  delta: DeltaBody | null;
}

export class StateStream {
  private rev = 0;
  private picture: StatePicture | null = null;

  /** The latest picture and its revision (null before the first). */
  get current(): { rev: number; picture: StatePicture } | null {
    return this.picture ? { rev: this.rev, picture: this.picture } : null;
  }

  /** A broadcast: `next` becomes the next revision. */
  advance(next: StatePicture): StateStep {
    const prev = this.picture;
    const base = this.rev;
    this.rev++;
    this.picture = next;
    return { rev: this.rev, base, delta: prev && prev.ups === next.ups ? diffState(prev, next) : null };
  }

  /**
   * A connecting agent's first full state: its revision when it is the latest picture (deltas from then on
   * apply to it), null when the state moved on since the last broadcast (that agent gets a full state at the
   * next one). The very first picture of the run is adopted as revision 0.
   */
  revisionOf(p: StatePicture): number | null {
    if (!this.picture) {
      this.picture = p;
      return this.rev;
    }
    return samePicture(this.picture, p) ? this.rev : null;
  }
}
