/**
 * A light in-process agent for benchmarks: a real WebSocket client speaking the real protocol (hello,
 * validation of every message, pong, and ack + going-down in dry-run for orders), without hooks or processes.
 * With the `seq` capability it numbers its messages and checks the master's, as a deployed agent does; with
 * `state-delta` it rebuilds each full state from the deltas (shared/protocol/state-delta.ts, as the agent's
 * connection does) and hands on a `state`, telling what came on the wire (type and bytes).
 * The arrival time is taken when the frame is read; decoding and validation run right after the event
 * loop's read phase, so that one agent's validation does not delay the next agent's arrival time. While
 * `holding` is set, frames are only read and kept: `release()` then validates them, and each message's time
 * is its arrival plus its own validation. In a fleet every agent validates on its own CPU; here thousands
 * share one core, and validating them as they come would make the last agents wait for the first ones'.
 */
import { WebSocket } from 'ws';
import { AGENT_ALPN } from '../shared/protocol/agent-alpn.js';
import { decodeMasterMessage, encode, envelop } from '../shared/protocol/codec.js';
import type { AgentMsg, MasterMsg } from '../shared/protocol/messages.js';
import { SEQ_CAPABILITY } from '../shared/protocol/replay-guard.js';
import { StateFollower } from '../shared/protocol/state-delta.js';

/** What a message was on the wire (a rebuilt state came as a `state-delta`). */
export interface Wire {
  type: MasterMsg['type'];
  bytes: number;
}

export interface LightAgentOptions {
  url: string;
  /** The master's certificate (PEM), trusted as its own CA (it names 127.0.0.1). */
  ca?: string;
  id: string;
  group: string;
  token: string;
  /** Announced in hello (default none: an agent of the oldest kind). */
  capabilities?: string[];
  onMessage?: (msg: MasterMsg, receivedAt: number, wire: Wire) => void;
  /** A message that failed validation or the session's numbering (the agent closes). */
  onInvalid?: (reason: string) => void;
  /** Every frame read, before anything else is done with it. */
  onFrameRead?: () => void;
}

/** Frames read while holding: decoded and validated by `release()`. */
let holding = false;
const held: Array<() => void> = [];

/** Keep frames unvalidated from now on (see the file's comment). */
export function holdFrames(): void {
  holding = true;
}

/** Validate every kept frame, in the order read, and go back to validating frames as they come. */
export function releaseFrames(): void {
  holding = false;
  for (const work of held.splice(0)) work();
}

const pending: Array<() => void> = [];
function later(work: () => void): void {
  if (pending.push(work) === 1)
    setImmediate(() => {
      for (const w of pending.splice(0)) w();
    });
}

export class LightAgent {
  private ws: WebSocket | null = null;
  private sid: string | null = null;
  private ourSeq = 0;
  private theirSeq = 0;
  private readonly states = new StateFollower();

  constructor(private readonly opts: LightAgentOptions) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ca = this.opts.ca;
      // as a deployed agent: the agent protocol offered first (a master with TLS workers routes on it)
      // (ws hands its options to tls.connect; its typings do not list ALPNProtocols)
      const tls = { ...(ca ? { ca } : {}), ALPNProtocols: [AGENT_ALPN, 'http/1.1'] };
      const ws = new WebSocket(this.opts.url, tls);
      this.ws = ws;
      ws.once('error', reject);
      ws.on('message', (data) => {
        const receivedAt = performance.timeOrigin + performance.now();
        this.opts.onFrameRead?.();
        if (holding) {
          held.push(() => {
            const started = performance.now();
            this.onFrame(String(data), receivedAt, resolve, () => performance.now() - started);
          });
          return;
        }
        later(() => this.onFrame(String(data), receivedAt, resolve));
      });
      ws.once('open', () =>
        this.send({
          type: 'hello',
          agentId: this.opts.id,
          group: this.opts.group,
          version: 'bench',
          capabilities: this.opts.capabilities ?? [],
          token: this.opts.token,
          dryRun: true,
        }),
      );
    });
  }

  /** `ownWork`: how long this frame's own decoding took, added to its time (held frames). */
  private onFrame(text: string, receivedAt: number, welcomed: () => void, ownWork?: () => number): void {
    const decoded = decodeMasterMessage(text);
    if (!decoded.ok) {
      this.invalid(`invalid message from master: ${decoded.reason}`);
      return;
    }
    let msg = decoded.msg;
    const wire: Wire = { type: msg.type, bytes: Buffer.byteLength(text) };
    if (msg.type === 'welcome' && msg.sid !== undefined) this.sid = msg.sid;
    if (this.sid !== null) {
      if (msg.seq === undefined || msg.seq !== this.theirSeq + 1) {
        this.invalid(`seq ${msg.seq} after ${this.theirSeq}`);
        return;
      }
      this.theirSeq = msg.seq;
    }
    if (msg.type === 'state') this.states.onState(msg);
    if (msg.type === 'state-delta') {
      const followed = this.states.onDelta(msg);
      if (followed.kind === 'gap') {
        this.send({ type: 'resync', ups: followed.ups, have: followed.have });
        this.invalid(`state delta gap: ${followed.why}`);
        return;
      }
      msg = followed.state;
    }
    if (msg.type === 'welcome') welcomed();
    if (msg.type === 'ping') this.send({ type: 'pong' });
    if (msg.type === 'order') {
      this.send({ type: 'ack', orderId: msg.orderId });
      this.send({ type: 'going-down', orderId: msg.orderId, dryRun: true, hookFailures: 0 });
    }
    this.opts.onMessage?.(msg, receivedAt + (ownWork?.() ?? 0), wire);
  }

  private invalid(reason: string): void {
    this.opts.onInvalid?.(reason);
    if (!this.opts.onInvalid) throw new Error(reason);
  }

  private send(body: Record<string, unknown>): void {
    const msg = envelop(body as never) as AgentMsg & { sid?: string; seq?: number };
    if (this.sid !== null && (this.opts.capabilities ?? []).includes(SEQ_CAPABILITY)) {
      msg.sid = this.sid;
      msg.seq = ++this.ourSeq;
    }
    this.ws?.send(encode(msg));
  }

  close(): void {
    this.ws?.close();
  }
}
