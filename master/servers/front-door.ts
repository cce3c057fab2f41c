/**
 * The TCP listener in front of the HTTP(S) server: applies the per-address guard, then hands the socket
 * over. With TLS it peeks at the first byte: a TLS ClientHello (0x16) goes to the HTTPS server, anything
 * else (a plain-text HTTP or ws:// client on the TLS port) gets a short plain `400` saying to use
 * https:// or wss://, and is closed: it fails cleanly instead of hanging or seeing TLS garbage.
 *
 * TLS handshakes are the expensive part of taking a connection (key exchange and signature, on the one
 * event-loop thread), so at most `maxHandshakes` run at once and the rest wait in arrival order, their
 * ClientHello kept (a few hundred bytes each). Started all at once, 10,000 handshakes would interleave
 * and every one would finish late, past the agents' own timeout ("half-serving everybody"); in order,
 * the first ones finish at full speed. A connection is shed, with a TCP reset and before any TLS work,
 * when it cannot be served in time: at arrival when the measured handshake rate says the queue ahead
 * would take longer than `queueBudgetMs`, or when it has waited that long. A client that gives up while
 * queued (its FIN) is dropped without any work. The retry hint is the reconnect window each welcome
 * carries (reconnect-window.ts): a shed agent retries within it, spread with the rest of the fleet.
 *
 * Before anything else a connection must fit under the file-descriptor limit (fd-gate.ts): at the limit
 * new connections are refused and those already served go on. Every per-connection refusal (fd limit,
 * per-address limits, plain text on the TLS port, shed) is logged through one RefusalLog: a line per kind
 * per interval with counters, so a flood costs counters, not a log line per connection.
 */

import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { systemClock } from '../../shared/clock.js';
import { AGENT_ALPN } from '../../shared/protocol/agent-alpn.js';
import { type AddressGuard, connectionKey, normalizeIp } from './address-guard.js';
import { offeredAlpn } from './client-hello-alpn.js';
import { FdGate, readFdLimit } from './fd-gate.js';
import { RefusalLog } from './refusal-log.js';

const FIRST_BYTE_TIMEOUT_MS = 10_000;
const TLS_HANDSHAKE_RECORD = 0x16;
/**
 * Concurrent TLS handshakes: enough to keep the CPU busy across round trips (a handshake holds its slot
 * for about one round trip of the client), few enough that each finishes promptly.
 */
export const DEFAULT_MAX_HANDSHAKES = 256;
/**
 * The longest a connection may wait for a handshake slot. An agent lets the master stay silent for 100 s
 * during its opening (agent/master-connection.ts); after 80 s of queueing the master's first TLS flight
 * still reaches it on a 10 s round trip. Every connection shed costs the fleet one more attempt later, so
 * the budget is as long as the agents' patience allows: on a slow or busy master the whole fleet's
 * handshakes take longer than a short budget (10,000 took 60 s and more on a 2-core machine shared with
 * other work), and a short one shed most of it only to take it back seconds later.
 */
export const DEFAULT_QUEUE_BUDGET_MS = 80_000;
/** A queued client that sends more than a ClientHello's worth before its handshake is not a TLS client. */
const MAX_QUEUED_BYTES = 16 * 1024;
/** The handshake rate is measured over this window. */
const RATE_WINDOW_MS = 2_000;

export interface FrontDoorOptions {
  inner: HttpServer;
  tls: boolean;
  guard: AddressGuard;
  logger: Logger;
  /** Concurrent TLS handshakes (default DEFAULT_MAX_HANDSHAKES). */
  maxHandshakes?: number;
  /** Longest wait for a handshake slot before the connection is shed (default DEFAULT_QUEUE_BUDGET_MS). */
  queueBudgetMs?: number;
  /** Milliseconds clock (tests). */
  now?: () => number;
  /** Where refusals are counted and logged (default: one of its own on the system clock). */
  refusals?: RefusalLog;
  /** The soft file-descriptor limit (default: read from /proc/self/limits; null: unknown). */
  fdLimit?: number | null;
  /** Descriptors kept free for the master's own work (default fdReserve(limit)). */
  fdReserve?: number;
  /**
   * TLS worker processes (tls-worker/tls-worker-pool.ts): a connection whose ClientHello offers AGENT_ALPN
   * goes to one of them when one is ready; everything else (browsers, the CLI), and every connection while
   * no worker is ready, is served here.
   */
  workers?: {
    take(socket: Socket, head: Buffer, hooks: { handshakeEnded(): void; gone(): void }): boolean;
    available(): boolean;
  };
}

interface Queued {
  socket: Socket;
  chunks: Buffer[];
  bytes: number;
  since: number;
  onData: (chunk: Buffer) => void;
}

export interface HandshakeStats {
  /** TLS handshakes under way now. */
  active: number;
  /** Connections waiting for a handshake slot. */
  queued: number;
  /** Handshakes finished (either way) since start. */
  done: number;
  /** Refused before any TLS work: at arrival (the queue would take too long) or after waiting too long. */
  shed: number;
  /** Clients that gave up while queued. */
  abandoned: number;
}

export class FrontDoor {
  readonly server: Server;
  plainOnTlsPort = 0;
  private readonly queue: Queued[] = [];
  /** Sockets handed to TLS whose handshake has not ended, by remote address:port. */
  private readonly inHandshake = new Map<string, Socket>();
  /** Each admitted connection's release of its per-address slot (run once, when the connection ends). */
  private readonly releases = new WeakMap<Socket, () => void>();
  private handedToWorkers = 0;
  /** When recent handshakes ended (for the rate). */
  private readonly finishedAt: number[] = [];
  private readonly stats_ = { done: 0, shed: 0, abandoned: 0 };
  private readonly refusals: RefusalLog;
  private readonly fdGate: FdGate;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Since when connections have been waiting without a break (the rate is only trusted over such a span). */
  private busySince: number | null = null;

  constructor(private readonly opts: FrontDoorOptions) {
    this.refusals = opts.refusals ?? new RefusalLog(opts.logger, systemClock);
    this.fdGate = new FdGate({
      limit: opts.fdLimit === undefined ? readFdLimit() : opts.fdLimit,
      ...(opts.fdReserve === undefined ? {} : { reserve: opts.fdReserve }),
      logger: opts.logger,
      refuse: (fields) =>
        this.refusals.note(
          'fd-exhausted',
          fields,
          'out of file descriptors: refusing new connections, serving those already open',
        ),
    });
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    if (opts.tls) {
      const ended = (tlsSocket: Socket) => this.handshakeEnded(connectionKey(tlsSocket));
      opts.inner.on('secureConnection', ended);
      opts.inner.on('tlsClientError', (_err: Error, tlsSocket: Socket) => ended(tlsSocket));
    }
  }

  /**
   * Listens for accept errors once the listener is up: with no handler an EMFILE that libuv could not
   * absorb would be an uncaught exception; here it is a counted refusal.
   */
  watchAcceptErrors(): void {
    this.server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.fdGate.acceptFailed(err)) return;
      this.refusals.note(
        `accept-error-${err.code ?? 'unknown'}`,
        { err, errno: err.code },
        'a connection could not be accepted',
      );
    });
  }

  handshakeStats(): HandshakeStats {
    return { active: this.inHandshake.size, queued: this.queue.length, ...this.stats_ };
  }

  /** Stops the queue's sweep and drops what still waits (the listener is closing). */
  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const q of this.queue.splice(0)) q.socket.destroy();
  }

  private get now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private get maxHandshakes(): number {
    return this.opts.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES;
  }

  private get budgetMs(): number {
    return this.opts.queueBudgetMs ?? DEFAULT_QUEUE_BUDGET_MS;
  }

  private accept(socket: Socket): void {
    const { guard, inner, tls } = this.opts;
    socket.on('error', () => {});
    // a reset: nothing of this connection (not even TIME_WAIT) is kept while descriptors are short
    if (!this.fdGate.admit(socket)) {
      socket.resetAndDestroy();
      return;
    }
    const ip = normalizeIp(socket.remoteAddress);
    const admission = guard.admit(ip);
    if (!admission.ok) {
      this.refusals.note(
        `per-address-${admission.reason}`,
        { ip, reason: admission.reason, retryAfterMs: admission.retryAfterMs, code: 'RATE_LIMITED' },
        'connection refused by the per-address limits',
      );
      socket.destroy();
      return;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      guard.release(ip);
    };
    this.releases.set(socket, release);
    socket.once('close', release);
    if (!tls) {
      inner.emit('connection', socket);
      socket.resume();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      if (chunk[0] === TLS_HANDSHAKE_RECORD) {
        this.admit(socket, chunk);
        return;
      }
      this.plainOnTlsPort++;
      this.refusals.note(
        'plain-on-tls-port',
        { ip, plainOnTlsPort: this.plainOnTlsPort },
        'plain-text client on the TLS port; answered 400 and closed',
      );
      const body = 'This port speaks TLS only: use https:// or wss://\n';
      socket.end(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
  }

  /** A TLS client's first bytes arrived: a handshake slot now, a place in the queue, or shed. */
  private admit(socket: Socket, chunk: Buffer): void {
    if (this.inHandshake.size < this.maxHandshakes && this.queue.length === 0) {
      this.handOver(socket, [chunk]);
      return;
    }
    // the rate says what the master can do only once it has been saturated for a whole window (the first
    // handshakes of a burst finish few per second while their clients are still busy)
    const rate = this.ratePerMs();
    const saturatedFor = this.busySince === null ? 0 : this.now - this.busySince;
    if (saturatedFor >= RATE_WINDOW_MS && rate > 0 && this.queue.length / rate > this.budgetMs) {
      this.shed(socket, 'arrival');
      return;
    }
    const entry: Queued = {
      socket,
      chunks: [chunk],
      bytes: chunk.length,
      since: this.now,
      onData: (more: Buffer) => {
        entry.chunks.push(more);
        entry.bytes += more.length;
        if (entry.bytes > MAX_QUEUED_BYTES) socket.destroy();
      },
    };
    // keep reading while queued: the rest of the ClientHello, and the FIN of a client that gave up
    socket.on('data', entry.onData);
    socket.once('close', () => {
      const i = this.queue.indexOf(entry);
      if (i < 0) return;
      this.queue.splice(i, 1);
      this.stats_.abandoned++;
      if (this.queue.length === 0) this.busySince = null;
    });
    if (this.queue.length === 0) this.busySince = this.now;
    this.queue.push(entry);
    socket.resume();
    this.sweepTimer ??= setInterval(() => this.pump(), 1_000);
    this.sweepTimer.unref?.();
  }

  /**
   * Gives the socket and the bytes read so far to the TLS server, or to a TLS worker when it is an agent's;
   * the handshake slot is held until its handshake ends.
   */
  private handOver(socket: Socket, chunks: Buffer[]): void {
    socket.pause();
    const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (this.toWorker(socket, head)) return;
    const key = connectionKey(socket);
    this.inHandshake.set(key, socket);
    socket.once('close', () => this.handshakeEnded(key, socket));
    socket.unshift(head);
    // the TLS socket reads the unshifted ClientHello from the buffer; resuming here would lose it
    this.opts.inner.emit('connection', socket);
  }

  /** An agent's connection to a ready worker; its slots are freed when the worker says so (or dies). */
  private toWorker(socket: Socket, head: Buffer): boolean {
    const workers = this.opts.workers;
    if (!workers?.available() || !offeredAlpn(head)?.includes(AGENT_ALPN)) return false;
    const release = this.releases.get(socket);
    const key = `worker:${++this.handedToWorkers}`;
    // this process's copy of the socket closes once it is sent: that close frees nothing (the worker's does)
    if (release) socket.off('close', release);
    this.inHandshake.set(key, socket);
    const taken = workers.take(socket, head, {
      handshakeEnded: () => this.handshakeEnded(key),
      gone: () => release?.(),
    });
    if (taken) return true;
    this.inHandshake.delete(key);
    if (release) socket.once('close', release);
    return false;
  }

  private handshakeEnded(key: string, socket?: Socket): void {
    const held = this.inHandshake.get(key);
    if (!held || (socket && held !== socket)) return;
    this.inHandshake.delete(key);
    this.stats_.done++;
    const now = this.now;
    this.finishedAt.push(now);
    while (this.finishedAt.length > 0 && this.finishedAt[0]! < now - RATE_WINDOW_MS) this.finishedAt.shift();
    this.pump();
  }

  /** Handshakes finished per ms lately (0 while nothing finished: no evidence to shed on). */
  private ratePerMs(): number {
    const now = this.now;
    while (this.finishedAt.length > 0 && this.finishedAt[0]! < now - RATE_WINDOW_MS) this.finishedAt.shift();
    return this.finishedAt.length / RATE_WINDOW_MS;
  }

  /** Sheds what waited too long, then fills the free handshake slots in arrival order. */
  private pump(): void {
    const now = this.now;
    while (this.queue.length > 0 && now - this.queue[0]!.since > this.budgetMs) {
      const late = this.queue.shift()!;
      late.socket.off('data', late.onData);
      this.shed(late.socket, 'waited');
    }
    while (this.queue.length > 0 && this.inHandshake.size < this.maxHandshakes) {
      const next = this.queue.shift()!;
      next.socket.off('data', next.onData);
      if (next.socket.destroyed) continue;
      this.handOver(next.socket, next.chunks);
    }
    if (this.queue.length === 0) this.busySince = null;
    if (this.queue.length === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  /** Refused before any TLS work: a reset (no TIME_WAIT kept here), counted, logged rate-limited. */
  private shed(socket: Socket, when: 'arrival' | 'waited'): void {
    this.stats_.shed++;
    socket.resetAndDestroy();
    this.refusals.note(
      'handshake-shed',
      {
        code: 'HANDSHAKE_SHED',
        when,
        queued: this.queue.length,
        active: this.inHandshake.size,
        queueBudgetMs: this.budgetMs,
      },
      'too many TLS handshakes to finish in time: refusing new connections at once (they retry within their reconnect window)',
    );
  }
}
