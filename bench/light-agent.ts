/**
 * A light in-process agent for benchmarks: a real WebSocket client speaking the real protocol (hello,
 * validation of every message, pong, and ack + going-down in dry-run for orders), without hooks or processes.
 */
import { WebSocket } from 'ws';
import { decodeMasterMessage, encode, envelop } from '../shared/protocol/codec.js';
import type { AgentMsg, MasterMsg } from '../shared/protocol/messages.js';

export interface LightAgentOptions {
  url: string;
  /** The master's certificate (PEM), trusted as its own CA (it names 127.0.0.1). */
  ca?: string;
  id: string;
  group: string;
  token: string;
  onMessage?: (msg: MasterMsg, receivedAt: number) => void;
}

export class LightAgent {
  private ws: WebSocket | null = null;

  constructor(private readonly opts: LightAgentOptions) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ca = this.opts.ca;
      const ws = new WebSocket(this.opts.url, ca ? { ca } : {});
      this.ws = ws;
      ws.once('error', reject);
      ws.on('message', (data) => {
        const receivedAt = performance.timeOrigin + performance.now();
        const decoded = decodeMasterMessage(data.toString());
        if (!decoded.ok) throw new Error(`invalid message from master: ${decoded.reason}`);
        const msg = decoded.msg;
        if (msg.type === 'welcome') resolve();
        if (msg.type === 'ping') this.send({ type: 'pong' });
        if (msg.type === 'order') {
          this.send({ type: 'ack', orderId: msg.orderId });
          this.send({ type: 'going-down', orderId: msg.orderId, dryRun: true, hookFailures: 0 });
        }
        this.opts.onMessage?.(msg, receivedAt);
      });
      ws.once('open', () =>
        this.send({
          type: 'hello',
          agentId: this.opts.id,
          group: this.opts.group,
          version: 'bench',
          capabilities: [],
          token: this.opts.token,
          dryRun: true,
        }),
      );
    });
  }

  private send(body: Record<string, unknown>): void {
    this.ws?.send(encode(envelop(body as never) as AgentMsg));
  }

  close(): void {
    this.ws?.close();
  }
}
