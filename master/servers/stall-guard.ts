/**
 * Deadlines for the HTTP side of every connection the front door hands over. Node checks its own
 * headersTimeout/requestTimeout from a timer that starts when a server listen()s; the inner HTTP(S)
 * server here never does (front-door.ts owns the listener), so without this a client that completes the
 * TLS handshake and then sends nothing, half its headers, or its headers a byte at a time, holds a
 * socket (and a file descriptor) for good.
 *
 * - headers: from the connection being ready (TLS: handshake done) and from the end of each response on a
 *   keep-alive connection, the next request's headers (or a WebSocket upgrade's) must be complete within
 *   `headersMs`, however slowly they trickle;
 * - request: from its headers, a request's body must be complete within `requestMs`.
 * A response may take as long as it needs (the dashboard's live stream never ends); after an upgrade the
 * WebSocket's own hello deadline (agent-server.ts) takes over. The TLS handshake has its own deadline
 * (the https server's handshakeTimeout, which does run on handed-over sockets).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../shared/clock.js';

export interface StallDeadlines {
  headersMs: number;
  requestMs: number;
}

export type StallKind = 'headers' | 'request';

interface Tracked {
  /** Requests received on this connection whose responses have not finished. */
  pending: number;
  timer: TimerHandle | null;
  /** Body deadlines of requests still being received (several when a client pipelines). */
  bodies: Set<TimerHandle>;
}

/** Arms the deadlines on `server`; `onStall` hears of each connection closed for stalling. */
export function guardStalls(
  server: Server,
  opts: {
    tls: boolean;
    deadlines: StallDeadlines;
    clock: Clock;
    onStall: (kind: StallKind, socket: Socket) => void;
  },
): void {
  const { deadlines, clock, onStall } = opts;
  const tracked = new WeakMap<Socket, Tracked>();

  const stalled = (socket: Socket, kind: StallKind) => {
    if (socket.destroyed) return;
    onStall(kind, socket);
    socket.destroy();
  };
  const armHeaders = (socket: Socket, t: Tracked) => {
    t.timer?.cancel();
    t.timer = clock.setTimer(deadlines.headersMs, () => {
      t.timer = null;
      if (t.pending === 0) stalled(socket, 'headers');
    });
  };
  const disarm = (t: Tracked) => {
    t.timer?.cancel();
    t.timer = null;
  };

  const ready = (socket: Socket) => {
    const t: Tracked = { pending: 0, timer: null, bodies: new Set() };
    tracked.set(socket, t);
    armHeaders(socket, t);
    // one close listener per connection, whatever it carries: a listener per request piled up on a
    // keep-alive or pipelining client (MaxListenersExceededWarning)
    socket.once('close', () => {
      disarm(t);
      for (const body of t.bodies) body.cancel();
      t.bodies.clear();
    });
  };
  // the TLS socket is the one requests arrive on; it exists once the handshake is done
  server.on(opts.tls ? 'secureConnection' : 'connection', ready);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const t = tracked.get(socket);
    if (!t) return;
    disarm(t);
    t.pending++;
    // the body deadline ends with the body, the response or the connection (ready's close listener)
    let endBodyDeadline = () => {};
    if (!req.complete) {
      const body = clock.setTimer(deadlines.requestMs, () => {
        t.bodies.delete(body);
        if (!req.complete) stalled(socket, 'request');
      });
      t.bodies.add(body);
      endBodyDeadline = () => {
        body.cancel();
        t.bodies.delete(body);
      };
      req.once('end', endBodyDeadline);
    }
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      endBodyDeadline();
      t.pending--;
      if (t.pending === 0 && !socket.destroyed) armHeaders(socket, t);
    };
    res.once('finish', finished);
    res.once('close', finished);
  });

  // from here the WebSocket server owns the socket and its deadlines
  server.on('upgrade', (req: IncomingMessage) => {
    const t = tracked.get(req.socket);
    if (t) disarm(t);
  });
}
