/**
 * A TLS worker process: terminates the TLS of agent connections the main process hands it and carries
 * their WebSocket messages to and from the main process, which keeps every decision (authentication,
 * the fleet, the sequence, the journal). The expensive per-connection work of a broadcast (encrypting one
 * frame per agent) runs here, on another core; the main process sends each broadcast once per worker.
 *
 * It enforces only what needs no decision: the TLS handshake deadline, the upgrade's header deadline
 * (stall-guard.ts, as on the main listener), ws's frame size cut, `/ws` as the only path. It exits when
 * the main process goes (its IPC channel closes): an agent link never outlives the master that owns it.
 */
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { type RawData, WebSocketServer } from 'ws';
import { systemClock } from '../../../shared/clock.js';
import { connectionKey, normalizeIp } from '../address-guard.js';
import { bufferOf, WsLink } from '../agent-link.js';
import { SharedFrame } from '../shared-frame.js';
import { guardStalls } from '../stall-guard.js';
import type { MainToWorker, WorkerInit, WorkerToMain } from './worker-protocol.js';

interface Link {
  /** The connection, written to as the main process writes to its own (agent-link.ts). */
  ws: WsLink;
  sid: string | null;
}

const ipOf = (socket: Socket) => normalizeIp(socket.remoteAddress);

export function runTlsWorker(): void {
  const tell = (m: WorkerToMain) => {
    if (process.connected) process.send?.(m);
  };
  let server: Server | null = null;
  let wss: WebSocketServer | null = null;
  /** Connections by id, and their ids by remote address:port (how a TLS socket finds its connection). */
  const conns = new Map<number, Socket>();
  const idByKey = new Map<string, number>();
  const inHandshake = new Set<number>();
  const links = new Map<number, Link>();
  /** The main process is gone: exit once the last connection has closed. */
  let stopping = false;

  const handshakeEnded = (id: number | undefined) => {
    if (id === undefined || !inHandshake.delete(id)) return;
    tell({ type: 'handshake-ended', id });
  };

  const init = (m: WorkerInit) => {
    wss = new WebSocketServer({ noServer: true, maxPayload: m.maxPayload, clientTracking: false });
    const https = createServer({
      key: m.keyPem,
      cert: m.certPem,
      minVersion: 'TLSv1.2',
      handshakeTimeout: m.handshakeTimeoutMs,
    });
    https.on('secureConnection', (socket: Socket) => handshakeEnded(idByKey.get(connectionKey(socket))));
    https.on('tlsClientError', (_err: Error, socket: Socket) => {
      handshakeEnded(idByKey.get(connectionKey(socket)));
      tell({ type: 'refusal', kind: 'tls-failed', ip: ipOf(socket) });
    });
    guardStalls(https, {
      tls: true,
      clock: systemClock,
      deadlines: { headersMs: m.headersTimeoutMs, requestMs: m.headersTimeoutMs },
      onStall: (kind, socket) => tell({ type: 'refusal', kind: `stalled-${kind}`, ip: ipOf(socket) }),
    });
    // an agent's connection carries the WebSocket and nothing else
    https.on('request', (req, res) => {
      tell({ type: 'refusal', kind: 'worker-not-ws', ip: ipOf(req.socket) });
      res.writeHead(404, { 'content-type': 'text/plain', connection: 'close' });
      res.end('this connection offered the agent protocol: only /ws is served on it\n');
    });
    https.on('upgrade', (req, socket: Socket, head: Buffer) => {
      const id = idByKey.get(connectionKey(socket));
      if (id === undefined || new URL(req.url ?? '/', 'http://x').pathname !== '/ws' || !wss) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        links.set(id, { ws: new WsLink(ws), sid: null });
        tell({
          type: 'open',
          id,
          remoteAddress: socket.remoteAddress ?? '?',
          remotePort: socket.remotePort ?? 0,
        });
        ws.on('message', (data: RawData, binary: boolean) => {
          tell({ type: 'msg', id, data: binary ? '' : bufferOf(data).toString('utf8'), binary });
        });
        ws.on('error', (err) =>
          tell({ type: 'error', id, code: (err as { code?: string }).code ?? null, message: err.message }),
        );
        ws.on('close', () => {
          links.delete(id);
          tell({ type: 'closed', id });
        });
      });
    });
    server = https;
    tell({ type: 'ready' });
  };

  const take = (m: Extract<MainToWorker, { type: 'conn' }>, socket: Socket | undefined) => {
    if (!socket || !server) {
      socket?.destroy();
      tell({ type: 'handshake-ended', id: m.id });
      tell({ type: 'gone', id: m.id });
      return;
    }
    const key = connectionKey(socket);
    conns.set(m.id, socket);
    idByKey.set(key, m.id);
    inHandshake.add(m.id);
    socket.on('error', () => {});
    socket.once('close', () => {
      conns.delete(m.id);
      if (idByKey.get(key) === m.id) idByKey.delete(key);
      handshakeEnded(m.id);
      tell({ type: 'gone', id: m.id });
      if (stopping && conns.size === 0) process.exit(0);
    });
    socket.unshift(Buffer.from(m.head, 'base64'));
    server.emit('connection', socket);
  };

  const broadcast = (m: Extract<MainToWorker, { type: 'broadcast' }>) => {
    const frames = m.frames.map((json) => new SharedFrame(json));
    const t = m.targets;
    for (let i = 0; i + 2 < t.length; i += 3) {
      const link = links.get(t[i]!);
      const frame = frames[t[i + 1]!];
      if (!link || !frame) continue;
      const seq = t[i + 2]!;
      link.ws.sendShared(frame, seq < 0 || link.sid === null ? null : { sid: link.sid, seq });
    }
  };

  process.on('message', (m: MainToWorker, handle?: unknown) => {
    switch (m.type) {
      case 'init':
        init(m);
        return;
      case 'conn':
        take(m, handle as Socket | undefined);
        return;
      case 'send':
        links.get(m.id)?.ws.send(m.text);
        return;
      case 'sid': {
        const link = links.get(m.id);
        if (link) link.sid = m.sid;
        return;
      }
      case 'broadcast':
        broadcast(m);
        return;
      case 'ping':
        tell({ type: 'pong', n: m.n });
        return;
      case 'close': {
        const link = links.get(m.id);
        if (!link) {
          conns.get(m.id)?.destroy();
          return;
        }
        // as the main process does in-process: a close frame, then (terminate) the connection a tick later
        if (m.code === null) setImmediate(() => link.ws.terminate());
        else link.ws.close(m.code, m.reason);
        return;
      }
    }
  });
  // the main process is gone (crashed, killed, stopped): so is every link it owned. The close frames it
  // asked for last (a stopping master closes every agent) are given a moment to leave; the rest are ended
  process.on('disconnect', () => {
    for (const link of links.values()) if (link.ws.isOpen) link.ws.close(1001, 'master gone');
    if (conns.size === 0) process.exit(0);
    setTimeout(() => process.exit(0), 1_000);
    stopping = true;
  });
}
