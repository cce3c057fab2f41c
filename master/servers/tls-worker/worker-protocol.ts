/**
 * What the master's main process and its TLS worker processes say to each other over the IPC channel of
 * `child_process.fork`. Both ends are this program (never a peer on the network), so these are plain
 * types; everything that came from the network is validated where it always is, in the main process
 * (agent-server.ts decodes each agent message). One channel per worker carries everything in order: an
 * agent's last messages always arrive before the notice that its connection closed.
 */

/** Main → worker, once after the fork: the TLS material and the per-connection limits. */
export interface WorkerInit {
  type: 'init';
  keyPem: string;
  certPem: string;
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  /** ws cuts frames over this itself (1009); the main process checks the real limit. */
  maxPayload: number;
}

/** Main → worker: a TCP connection (its handle rides along) and the bytes already read from it. */
export interface WorkerConn {
  type: 'conn';
  id: number;
  /** The ClientHello bytes the front door peeked at, base64. */
  head: string;
}

/** Main → worker: one message for one agent (already numbered by the main process). */
export interface WorkerSend {
  type: 'send';
  id: number;
  text: string;
}

/**
 * Main → worker: one broadcast. Each frame's JSON is sent once; `targets` is flat triples
 * [connection id, frame index, seq] with seq -1 for an agent that does not number messages.
 */
export interface WorkerBroadcast {
  type: 'broadcast';
  frames: string[];
  targets: number[];
}

/** Main → worker: the session id a numbering agent's broadcast copies carry (set once, at its welcome). */
export interface WorkerSid {
  type: 'sid';
  id: number;
  sid: string;
}

/** Main → worker: close (a close frame with this code) or terminate (drop the TCP connection) one agent. */
export interface WorkerClose {
  type: 'close';
  id: number;
  code: number | null;
  reason: string;
}

/** Main → worker: are you alive? (answered with `pong`; a worker that stops answering is killed). */
export interface WorkerPing {
  type: 'ping';
  n: number;
}

export type MainToWorker =
  | WorkerInit
  | WorkerConn
  | WorkerSend
  | WorkerBroadcast
  | WorkerSid
  | WorkerClose
  | WorkerPing;

/** Worker → main. */
export type WorkerToMain =
  /** The worker has its TLS material and takes connections. */
  | { type: 'ready' }
  /** The answer to `ping` n. */
  | { type: 'pong'; n: number }
  /** The TLS handshake of a connection ended, either way (its handshake slot is free). */
  | { type: 'handshake-ended'; id: number }
  /** A connection's TCP socket closed (its per-address slot is free). */
  | { type: 'gone'; id: number }
  /** A WebSocket upgrade on /ws succeeded: from now on `id` is an agent link. */
  | { type: 'open'; id: number; remoteAddress: string; remotePort: number }
  /** One WebSocket message from the agent (text; a binary frame carries no data: it is refused anyway). */
  | { type: 'msg'; id: number; data: string; binary: boolean }
  /** A WebSocket error on the link (ws's code, e.g. an over-long frame). */
  | { type: 'error'; id: number; code: string | null; message: string }
  /** The link closed (after every `msg` it carried). */
  | { type: 'closed'; id: number }
  /** A connection refused or closed by the worker's own limits (stalled upgrade, not /ws, TLS failure). */
  | { type: 'refusal'; kind: string; ip: string };

/** The argument the one-file bundle is forked with to run as a TLS worker (cli/main.ts). */
export const TLS_WORKER_ARG = '__tls-worker';
