/** A minimal protocol client for tests: connects, collects decoded messages, waits for closes. */
import { WebSocket } from 'ws';
import { decodeMasterMessage, encode, envelop } from '../../shared/protocol/codec.js';
import type { AgentMsg, MasterMsg } from '../../shared/protocol/messages.js';

export class TestClient {
  readonly messages: MasterMsg[] = [];
  readonly ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      const d = decodeMasterMessage(data.toString());
      if (d.ok) this.messages.push(d.msg);
      // a live agent answers pings, or the master drops it
      if (d.ok && d.msg.type === 'ping') this.send({ type: 'pong' });
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  send(body: Record<string, unknown>): void {
    this.ws.send(encode(envelop(body as never) as AgentMsg));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  async waitFor<T extends MasterMsg['type']>(type: T, count = 1): Promise<Extract<MasterMsg, { type: T }>[]> {
    for (;;) {
      const got = this.messages.filter((m) => m.type === type) as Extract<MasterMsg, { type: T }>[];
      if (got.length >= count) return got;
      await new Promise<void>((resolve, reject) => {
        this.waiters.push(resolve);
        this.closed.then((c) =>
          reject(new Error(`closed (${c.code} ${c.reason}) while waiting for ${type}`)),
        );
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}
