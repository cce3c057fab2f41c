/**
 * The master's live stream for people (`GET /live`, Server-Sent Events), read by the web dashboard and by
 * `upsfleet monitor`: a snapshot on connect, then every change as it happens, pushed, never polled. It
 * carries what the agents get (UPS state, power events, the sequence's timeline) because it reads the
 * same sources: the state hub, the journal (every decision, once it is written) and the fleet registry.
 * It also keeps the charge/runtime/load history for the chart, in memory and bounded by age and count.
 * Beside the shutdown path and never in it: a slow or gone viewer is dropped, never waited for.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { SSE_KEEPALIVE, sseFrame } from '../../shared/http/sse.js';
import type { Logger } from '../../shared/logger.js';
import type { DrillReport } from '../drill/drill-report.js';
import type { MemberInfo } from '../fleet/registry.js';
import type { StoredRecord } from '../journal/journal-line.js';
import type { PlanView } from '../plan/plan.js';
import type { SequenceView } from '../sequencer/sequence-view.js';
import type { HubSnapshot } from '../state/state-hub.js';
import type {
  HistoryPoint,
  JournalEntry,
  LiveAgent,
  LiveLayout,
  LiveMessage,
  LivePolicy,
  LiveSnapshot,
  LiveUps,
} from './live-model.js';

/** History kept for the chart: this long, at most one point per resolution step. */
export const HISTORY_MS = 6 * 3600_000;
export const HISTORY_RESOLUTION_MS = 5_000;
const HISTORY_MAX_POINTS = Math.ceil(HISTORY_MS / HISTORY_RESOLUTION_MS) + 1;
/** How often the fleet (last seen, links) is pushed while someone watches; also the keepalive. */
const FLEET_EVERY_MS = 5_000;
/** Sequence views are coalesced: a step ordering 100 hosts sends one view, not 100. */
const SEQUENCE_COALESCE_MS = 50;
/** A viewer whose socket buffers more than this is too slow: it is dropped (it reconnects for a snapshot). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const MAX_VIEWERS = 64;

export interface LiveFeedDeps {
  clock: Clock;
  logger: Logger;
  master: () => LiveSnapshot['master'];
  hub: {
    snapshot(): HubSnapshot;
    subscribe(l: { vars?(s: HubSnapshot, changed: string[]): void; comm?(s: HubSnapshot): void }): () => void;
  };
  policy: { view(): LivePolicy; subscribe(l: { status?(): void }): () => unknown };
  registry: {
    subscribe(l: { connected?(m: MemberInfo): void; disconnected?(m: MemberInfo): void }): () => unknown;
  };
  /** Every agent with its link, as /status shows them. */
  agents: () => LiveAgent[];
  sequence: () => SequenceView;
  plan: () => PlanView;
  journal: { recent(): StoredRecord[]; subscribe(l: (r: StoredRecord) => void): () => unknown };
  drills: { readonly last: DrillReport | null; subscribe(l: (r: DrillReport) => void): () => unknown };
  layout: LiveLayout;
}

interface Viewer {
  res: ServerResponse;
  admin: boolean;
}

function num(vars: Record<string, string>, name: string): number | null {
  const v = vars[name];
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** A journal record as viewers get it: a checkpoint's folded state is internal and large, so it is left out. */
function entryOf(r: StoredRecord): JournalEntry {
  if (r.kind !== 'checkpoint') return r as JournalEntry;
  const { state: _state, ...rest } = r;
  return rest as JournalEntry;
}

export class LiveFeed {
  private readonly viewers = new Set<Viewer>();
  private readonly history: HistoryPoint[] = [];
  private readonly detach: Array<() => unknown> = [];
  private sequenceTimer: TimerHandle | null = null;
  private fleetTimer: TimerHandle | null = null;
  private fleetSoon: TimerHandle | null = null;
  private started = false;

  constructor(private readonly deps: LiveFeedDeps) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    const { hub, policy, registry, journal, drills } = this.deps;
    this.sample(hub.snapshot());
    this.detach.push(
      hub.subscribe({
        vars: (snap, changed) => {
          this.sample(snap);
          if (changed.length > 0) this.pushState();
        },
        comm: () => this.pushState(),
      }),
      policy.subscribe({ status: () => this.pushState() }),
      registry.subscribe({ connected: () => this.fleetChanged(), disconnected: () => this.fleetChanged() }),
      journal.subscribe((r) => {
        this.send({ type: 'journal', record: entryOf(r) });
        if (r.kind === 'sequence') this.sequenceChanged();
      }),
      drills.subscribe((report) => this.send({ type: 'drill', report, plan: this.deps.plan() })),
    );
  }

  stop(): void {
    for (const d of this.detach.splice(0)) d();
    this.sequenceTimer?.cancel();
    this.fleetTimer?.cancel();
    this.fleetSoon?.cancel();
    this.sequenceTimer = this.fleetTimer = this.fleetSoon = null;
    for (const v of this.viewers) v.res.end();
    this.viewers.clear();
    this.started = false;
  }

  /** Viewers connected now. */
  get viewerCount(): number {
    return this.viewers.size;
  }

  /** The history kept for the chart (oldest first). */
  historyPoints(): HistoryPoint[] {
    return [...this.history];
  }

  /** Serves one viewer: the stream's headers, a snapshot, then every change until either side closes. */
  attach(res: ServerResponse, viewer: { admin: boolean }): void {
    if (this.viewers.size >= MAX_VIEWERS) {
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '10' });
      res.end(JSON.stringify({ error: `at most ${MAX_VIEWERS} live viewers`, code: 'RATE_LIMITED' }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // a reverse proxy must pass each event on at once
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
    const v: Viewer = { res, admin: viewer.admin };
    this.viewers.add(v);
    res.on('close', () => this.viewers.delete(v));
    // a reconnecting browser waits this long before trying again
    res.write('retry: 2000\n\n');
    this.write(v, sseFrame(JSON.stringify(this.snapshot(v.admin))));
    this.scheduleFleet();
  }

  snapshot(admin: boolean): LiveSnapshot {
    const hub = this.deps.hub.snapshot();
    return {
      type: 'snapshot',
      now: this.deps.clock.now(),
      master: this.deps.master(),
      ups: this.ups(hub),
      policy: this.deps.policy.view(),
      agents: this.deps.agents(),
      sequence: this.deps.sequence(),
      plan: this.deps.plan(),
      lastDrill: this.deps.drills.last,
      layout: this.deps.layout,
      history: this.historyPoints(),
      journal: this.deps.journal.recent().map(entryOf),
      viewer: { admin },
    };
  }

  private ups(hub: HubSnapshot): LiveUps {
    return {
      name: hub.ups,
      vars: hub.vars,
      waiting: hub.waiting,
      stale: hub.stale,
      staleReason: hub.staleReason,
      updatedAt: hub.updatedAt,
    };
  }

  private pushState(): void {
    if (this.viewers.size === 0) return;
    this.send({
      type: 'state',
      now: this.deps.clock.now(),
      ups: this.ups(this.deps.hub.snapshot()),
      policy: this.deps.policy.view(),
      plan: this.deps.plan(),
    });
  }

  /** One point per resolution step (a newer value in the same step replaces it); bounded by age and count. */
  private sample(snap: HubSnapshot): void {
    if (snap.waiting) return;
    const now = this.deps.clock.now();
    const t = Math.floor(now / HISTORY_RESOLUTION_MS) * HISTORY_RESOLUTION_MS;
    const point: HistoryPoint = {
      t,
      charge: num(snap.vars, 'battery.charge'),
      runtime: num(snap.vars, 'battery.runtime'),
      load: num(snap.vars, 'ups.load'),
    };
    const last = this.history[this.history.length - 1];
    if (
      last &&
      last.charge === point.charge &&
      last.runtime === point.runtime &&
      last.load === point.load &&
      now - last.t < HISTORY_MS / 2
    )
      return;
    if (last && last.t === t) this.history[this.history.length - 1] = point;
    else this.history.push(point);
    // the newest point stays however old: it is the value until now
    while (
      this.history.length > 1 &&
      (this.history[0]!.t < now - HISTORY_MS || this.history.length > HISTORY_MAX_POINTS)
    )
      this.history.shift();
    this.send({ type: 'sample', point });
  }

  private sequenceChanged(): void {
    if (this.sequenceTimer || this.viewers.size === 0) return;
    this.sequenceTimer = this.deps.clock.setTimer(SEQUENCE_COALESCE_MS, () => {
      this.sequenceTimer = null;
      this.send({ type: 'sequence', now: this.deps.clock.now(), sequence: this.deps.sequence() });
    });
  }

  private fleetChanged(): void {
    if (this.fleetSoon || this.viewers.size === 0) return;
    this.fleetSoon = this.deps.clock.setTimer(SEQUENCE_COALESCE_MS, () => {
      this.fleetSoon = null;
      this.pushFleet();
    });
  }

  private pushFleet(): void {
    this.send({ type: 'fleet', now: this.deps.clock.now(), agents: this.deps.agents() });
  }

  /** While anyone watches, the fleet (last seen, links) every few seconds: it doubles as the keepalive. */
  private scheduleFleet(): void {
    if (this.fleetTimer) return;
    this.fleetTimer = this.deps.clock.setTimer(FLEET_EVERY_MS, () => {
      this.fleetTimer = null;
      if (this.viewers.size === 0) return;
      this.pushFleet();
      for (const v of this.viewers) this.write(v, SSE_KEEPALIVE);
      this.scheduleFleet();
    });
  }

  private send(msg: LiveMessage): void {
    if (this.viewers.size === 0) return;
    const frame = sseFrame(JSON.stringify(msg));
    for (const v of this.viewers) this.write(v, frame);
  }

  private write(v: Viewer, frame: string): void {
    if (v.res.writableEnded || v.res.destroyed) {
      this.viewers.delete(v);
      return;
    }
    if (v.res.writableLength > MAX_BUFFERED_BYTES) {
      this.deps.logger.warn({ buffered: v.res.writableLength }, 'live viewer too slow: dropped');
      this.viewers.delete(v);
      v.res.destroy();
      return;
    }
    v.res.write(frame);
  }
}
