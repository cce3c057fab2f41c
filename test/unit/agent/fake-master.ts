/** A test double for the master: a real ws server on 127.0.0.1, port 0, driven by the test. */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { encode, envelop } from '../../../shared/protocol/codec.js';
import type { AgentMsg, MasterMsg } from '../../../shared/protocol/messages.js';

type Body<M> = M extends unknown ? Omit<M, 'v' | 'id' | 'ts'> : never;

export interface Received {
  conn: number;
  msg: AgentMsg;
}

export class FakeMaster {
  readonly wss: WebSocketServer;
  readonly connections: WebSocket[] = [];
  readonly received: Received[] = [];
  readonly closes: { conn: number; code: number; reason: string }[] = [];
  private waiters: (() => void)[] = [];

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (ws) => {
      const conn = this.connections.length;
      this.connections.push(ws);
      ws.on('message', (data) => {
        this.received.push({ conn, msg: JSON.parse(String(data)) as AgentMsg });
        this.wake();
      });
      ws.on('close', (code, reason) => {
        this.closes.push({ conn, code, reason: String(reason) });
        this.wake();
      });
      this.wake();
    });
  }

  /** On a port of its own (0), or on a given one (a master back where it was). */
  static async start(port = 0): Promise<FakeMaster> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return new FakeMaster(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** The latest connection. */
  get current(): WebSocket {
    const ws = this.connections.at(-1);
    if (!ws) throw new Error('no connection yet');
    return ws;
  }

  send(body: Body<MasterMsg>, ws: WebSocket = this.current): void {
    ws.send(encode(envelop<MasterMsg>(body)));
  }

  sendRaw(text: string, ws: WebSocket = this.current): void {
    ws.send(text);
  }

  messages(conn?: number): AgentMsg[] {
    return this.received.filter((r) => conn === undefined || r.conn === conn).map((r) => r.msg);
  }

  /** Resolves when `cond` holds (re-checked on every server-side event), or rejects after `ms`. */
  async until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for: ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async untilConnections(n: number): Promise<WebSocket> {
    await this.until(
      () => this.connections.length >= n && this.messages(n - 1).some((m) => m.type === 'hello'),
      `connection ${n} with hello`,
    );
    return this.connections[n - 1]!;
  }

  async close(): Promise<void> {
    for (const ws of this.connections) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
