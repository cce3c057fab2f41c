/**
 * The master's TLS worker processes (`master.tlsWorkers`): the front door hands each agent connection
 * (a ClientHello offering AGENT_ALPN) to one of them with its socket; the worker terminates TLS and the
 * WebSocket and passes the agent's messages here, where the agent server treats the link like any other.
 * A broadcast leaves this process once per worker (each frame's JSON once, then one triple per agent) and
 * the worker encrypts one copy per agent on its own core.
 *
 * Close attribution is what makes a link trustworthy: an agent is confirmed down by its own close, never
 * by one the master caused. A worker reports a close on the same ordered channel as the agent's messages,
 * after them. When a worker dies, every link it carried is closed here as *lost by the master* (it never
 * confirms anyone down), and only once the worker's channel has delivered everything it had sent (its
 * `disconnect`) and the process has exited, so an agent's last `going-down` is never overtaken. Their
 * agents reconnect (to the next worker, or to this process while none is up). A dead worker is started
 * again after a growing delay.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { AgentLink, LinkEvents } from '../agent-link.js';
import type { RefusalLog } from '../refusal-log.js';
import type { SharedFrame } from '../shared-frame.js';
import { type MainToWorker, TLS_WORKER_ARG, type WorkerInit, type WorkerToMain } from './worker-protocol.js';

/** How long a new worker may take to say it is ready before it is counted as failed. */
const READY_TIMEOUT_MS = 15_000;
/** After a worker's exit, how long its channel may take to deliver what it still carries. */
const DRAIN_TIMEOUT_MS = 2_000;
/**
 * The master pings each worker every HEARTBEAT_MS. With UNANSWERED_TO_AVOID pings unanswered a worker takes
 * no new connection; with UNANSWERED_TO_KILL (stopped, spinning, starved) it is killed: its agents would
 * otherwise stay connected to nothing, their orders never delivered, and come back to it when they
 * reconnect. Counted in pings the master really sent, not in time: a master that was itself frozen for a
 * while (its timers did not run) does not take its workers for dead when it wakes.
 */
const HEARTBEAT_MS = 1_000;
const UNANSWERED_TO_AVOID = 3;
const UNANSWERED_TO_KILL = 10;
const RESPAWN_MIN_MS = 500;
const RESPAWN_MAX_MS = 30_000;

/** What the front door learns back about a connection it handed over. */
export interface HandoverHooks {
  /** Its TLS handshake ended (either way): the handshake slot is free. */
  handshakeEnded(): void;
  /** Its TCP connection closed (or was lost with its worker): the per-address slot is free. */
  gone(): void;
}

export interface TlsWorkerPoolOptions {
  count: number;
  init: Omit<WorkerInit, 'type'>;
  /** Where opened links go (agent-server.ts acceptLink). */
  accept(link: AgentLink, remoteAddress: string, remotePort: number): void;
  logger: Logger;
  /** The main listener's refusal counters: a worker's refusals count there too. */
  refusals: RefusalLog;
  /** Starts one worker process (default: this program's worker entry). */
  spawn?: () => ChildProcess;
}

export interface TlsWorkerView {
  pid: number | null;
  ready: boolean;
  /** Connections handed to it and not gone yet, and of those the agent links. */
  connections: number;
  links: number;
  /** Times it was started again after it died. */
  restarts: number;
}

interface Batch {
  frames: string[];
  index: Map<SharedFrame, number>;
  targets: number[];
}

interface LinkEntry {
  link: WorkerLink;
  events: LinkEvents | null;
}

class WorkerSlot {
  child: ChildProcess | null = null;
  ready = false;
  restarts = 0;
  readonly conns = new Map<number, HandoverHooks>();
  readonly links = new Map<number, LinkEntry>();
  batch: Batch | null = null;
  respawnTimer: NodeJS.Timeout | null = null;
  heartbeat: NodeJS.Timeout | null = null;
  /** Pings sent, and the last one answered. */
  pings = 0;
  answered = 0;

  /** Ready and answering: may take a connection. */
  get takes(): boolean {
    return this.ready && this.pings - this.answered < UNANSWERED_TO_AVOID;
  }
}

/** An agent link whose TLS and WebSocket run in a worker. */
class WorkerLink implements AgentLink {
  /** Until the worker reports the close (or dies). */
  isOpen = true;
  constructor(
    private readonly pool: TlsWorkerPool,
    private readonly slot: WorkerSlot,
    readonly id: number,
  ) {}

  send(text: string): void {
    if (this.isOpen) this.pool.post(this.slot, { type: 'send', id: this.id, text });
  }

  sendShared(frame: SharedFrame, numbering: { sid: string; seq: number } | null): void {
    if (this.isOpen) this.pool.queue(this.slot, this.id, frame, numbering?.seq ?? -1);
  }

  numbered(sid: string): void {
    this.pool.post(this.slot, { type: 'sid', id: this.id, sid });
  }

  close(code: number, reason: string): void {
    this.pool.post(this.slot, { type: 'close', id: this.id, code, reason });
  }

  terminate(): void {
    this.pool.post(this.slot, { type: 'close', id: this.id, code: null, reason: '' });
  }

  bind(events: LinkEvents): void {
    const entry = this.slot.links.get(this.id);
    if (entry) entry.events = events;
  }
}

/** The worker entry beside this module: the compiled file, the one-file bundle itself, or the source (tsx). */
function defaultSpawn(): ChildProcess {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.cjs')) return fork(here, [TLS_WORKER_ARG], { execArgv: [] });
  if (here.endsWith('.ts'))
    return fork(fileURLToPath(new URL('./tls-worker-main.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
    });
  return fork(fileURLToPath(new URL('./tls-worker-main.js', import.meta.url)), [], { execArgv: [] });
}

export class TlsWorkerPool {
  private readonly slots: WorkerSlot[] = [];
  private nextId = 0;
  private stopping = false;
  private flushScheduled = false;

  constructor(private readonly opts: TlsWorkerPoolOptions) {
    for (let i = 0; i < opts.count; i++) this.slots.push(new WorkerSlot());
  }

  /** Starts every worker and waits (bounded) for them; one that fails is retried later, meanwhile this process serves. */
  async start(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.spawn(slot)));
  }

  /** Whether a worker can take a connection now. */
  available(): boolean {
    return this.slots.some((s) => s.takes);
  }

  view(): TlsWorkerView[] {
    return this.slots.map((s) => ({
      pid: s.child?.pid ?? null,
      ready: s.ready,
      connections: s.conns.size,
      links: s.links.size,
      restarts: s.restarts,
    }));
  }

  /**
   * Hands `socket` (paused, `head` already read from it) to the least busy ready worker. False: no worker is
   * ready, the caller serves the connection itself. The socket belongs to the worker from here on.
   */
  take(socket: Socket, head: Buffer, hooks: HandoverHooks): boolean {
    let slot: WorkerSlot | null = null;
    for (const s of this.slots) if (s.takes && (!slot || s.conns.size < slot.conns.size)) slot = s;
    const child = slot?.child;
    if (!slot || !child) return false;
    const id = ++this.nextId;
    slot.conns.set(id, hooks);
    const msg: MainToWorker = { type: 'conn', id, head: head.toString('base64') };
    // Node would otherwise track a listener's socket across processes: closing the listener would then wait
    // for the workers' connections, and this process's copy would never close (and never be counted closed)
    (socket as unknown as { server: unknown }).server = null;
    child.send(msg, socket, { keepOpen: true }, (err) => {
      // the worker holds its own descriptor now (or did not get it: it is dying; the agent retries)
      socket.destroy();
      if (err) this.connGone(slot, id);
    });
    return true;
  }

  /** Sends every worker its broadcast batch (the agent server calls this after each broadcast's loop). */
  flush(): void {
    for (const slot of this.slots) this.flushSlot(slot);
  }

  /** Stops every worker (their links close with them: the master is stopping). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.respawnTimer) clearTimeout(slot.respawnTimer);
        if (slot.heartbeat) clearInterval(slot.heartbeat);
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // its channel closing is what ends a worker (it lets its last close frames leave first)
        if (child.connected) child.disconnect();
        else child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** @internal (WorkerLink) one message to a worker, after the broadcast copies queued before it. */
  post(slot: WorkerSlot, msg: MainToWorker): void {
    this.flushSlot(slot);
    const child = slot.child;
    if (child?.connected) child.send(msg);
  }

  /** @internal (WorkerLink) one agent's copy of a broadcast frame, sent with the rest at the next flush. */
  queue(slot: WorkerSlot, id: number, frame: SharedFrame, seq: number): void {
    slot.batch ??= { frames: [], index: new Map(), targets: [] };
    const batch = slot.batch;
    let i = batch.index.get(frame);
    if (i === undefined) {
      i = batch.frames.length;
      batch.frames.push(frame.text());
      batch.index.set(frame, i);
    }
    batch.targets.push(id, i, seq);
    if (!this.flushScheduled) {
      // a caller that forgets to flush still has its frames sent, in order, this turn
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flushSlot(slot: WorkerSlot): void {
    const batch = slot.batch;
    if (!batch) return;
    slot.batch = null;
    const child = slot.child;
    if (child?.connected) child.send({ type: 'broadcast', frames: batch.frames, targets: batch.targets });
  }

  private spawn(slot: WorkerSlot): Promise<void> {
    const { logger } = this.opts;
    const child = (this.opts.spawn ?? defaultSpawn)();
    slot.child = child;
    slot.ready = false;
    let exited = false;
    let drained = false;
    const finish = () => {
      if (!exited || !drained || slot.child !== child) return;
      this.lost(slot, child);
    };
    let drainTimer: NodeJS.Timeout | null = null;
    child.on('error', (err) => logger.error({ err, pid: child.pid }, 'TLS worker process error'));
    child.on('disconnect', () => {
      drained = true;
      if (drainTimer) clearTimeout(drainTimer);
      finish();
    });
    child.on('message', (m: WorkerToMain) => {
      if (slot.child === child) this.onMessage(slot, m);
    });
    return new Promise<void>((resolve) => {
      const readyTimer = setTimeout(() => {
        logger.error({ pid: child.pid }, 'TLS worker did not start in time; stopping it');
        child.kill('SIGKILL');
        resolve();
      }, READY_TIMEOUT_MS);
      child.once('message', (m: WorkerToMain) => {
        if (m.type !== 'ready') return;
        clearTimeout(readyTimer);
        slot.ready = true;
        slot.pings = 0;
        slot.answered = 0;
        slot.heartbeat = setInterval(() => this.beat(slot, child), HEARTBEAT_MS);
        slot.heartbeat.unref?.();
        logger.info({ pid: child.pid }, 'TLS worker ready');
        resolve();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(readyTimer);
        resolve();
        exited = true;
        if (!this.stopping)
          logger.error(
            {
              pid: child.pid,
              exitCode: code,
              signal,
              links: slot.links.size,
              connections: slot.conns.size,
              code: 'TLS_WORKER_EXITED',
            },
            'TLS worker exited; its agents reconnect',
          );
        // the channel's last messages (an agent's going-down, its close) are read before the links are lost
        if (!drained)
          drainTimer = setTimeout(() => {
            drained = true;
            finish();
          }, DRAIN_TIMEOUT_MS);
        finish();
      });
      const init: MainToWorker = { type: 'init', ...this.opts.init };
      child.send(init);
    });
  }

  /** Pings the worker; kills it when too many pings went unanswered (then it is lost as if it had died). */
  private beat(slot: WorkerSlot, child: ChildProcess): void {
    if (slot.child !== child) return;
    const unanswered = slot.pings - slot.answered;
    if (unanswered >= UNANSWERED_TO_KILL) {
      this.opts.logger.error(
        {
          pid: child.pid,
          unanswered,
          everyMs: HEARTBEAT_MS,
          links: slot.links.size,
          code: 'TLS_WORKER_EXITED',
        },
        'TLS worker stopped answering: killing it (its agents reconnect)',
      );
      if (slot.heartbeat) clearInterval(slot.heartbeat);
      slot.heartbeat = null;
      slot.ready = false;
      child.kill('SIGKILL');
      return;
    }
    if (child.connected) child.send({ type: 'ping', n: ++slot.pings });
  }

  /** A worker is gone: its links close as lost by the master, its connections free their slots, it restarts. */
  private lost(slot: WorkerSlot, child: ChildProcess): void {
    if (slot.heartbeat) clearInterval(slot.heartbeat);
    slot.heartbeat = null;
    slot.ready = false;
    slot.batch = null;
    slot.child = null;
    const lostBy = `TLS worker ${child.pid ?? '?'} exited`;
    for (const [id, entry] of [...slot.links]) {
      slot.links.delete(id);
      entry.link.isOpen = false;
      entry.events?.close(lostBy);
    }
    for (const id of [...slot.conns.keys()]) this.connGone(slot, id);
    if (this.stopping) return;
    const delay = Math.min(RESPAWN_MAX_MS, RESPAWN_MIN_MS * 2 ** Math.min(slot.restarts, 6));
    slot.restarts++;
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = null;
      if (!this.stopping) void this.spawn(slot);
    }, delay);
    slot.respawnTimer.unref?.();
  }

  private connGone(slot: WorkerSlot, id: number): void {
    const hooks = slot.conns.get(id);
    if (!hooks) return;
    slot.conns.delete(id);
    hooks.handshakeEnded();
    hooks.gone();
  }

  private onMessage(slot: WorkerSlot, m: WorkerToMain): void {
    switch (m.type) {
      case 'ready':
        return;
      case 'pong':
        slot.answered = Math.max(slot.answered, m.n);
        return;
      case 'handshake-ended':
        slot.conns.get(m.id)?.handshakeEnded();
        return;
      case 'gone':
        this.connGone(slot, m.id);
        return;
      case 'open': {
        const link = new WorkerLink(this, slot, m.id);
        slot.links.set(m.id, { link, events: null });
        this.opts.accept(link, m.remoteAddress, m.remotePort);
        return;
      }
      case 'msg':
        slot.links.get(m.id)?.events?.message(Buffer.from(m.data, 'utf8'), m.binary);
        return;
      case 'error':
        slot.links.get(m.id)?.events?.error(m.code ?? undefined, new Error(m.message));
        return;
      case 'closed': {
        const entry = slot.links.get(m.id);
        if (!entry) return;
        slot.links.delete(m.id);
        entry.link.isOpen = false;
        entry.events?.close();
        return;
      }
      case 'refusal':
        this.opts.refusals.note(
          `worker-${m.kind}`,
          { ip: m.ip, code: 'TLS_WORKER_REFUSED' },
          'a TLS worker refused or closed an agent connection',
        );
        return;
    }
  }
}
