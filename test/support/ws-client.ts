/** A minimal protocol client for tests: connects, collects decoded messages, waits for closes. */
import { WebSocket } from 'ws';
import { decodeMasterMessage, encode, envelop } from '../../shared/protocol/codec.js';
import type { AgentMsg, MasterMsg } from '../../shared/protocol/messages.js';

export class TestClient {
  readonly messages: MasterMsg[] = [];
  /** Every text frame as it arrived (for sizes), and the reasons of those that failed validation. */
  readonly texts: string[] = [];
  readonly invalid: string[] = [];
  readonly ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  private seq = 0;

  /**
   * `ca`: a wss:// master's certificate (PEM), trusted as its own CA; `anyCert`: no certificate check (a test
   * master's self-signed one); `alpn`: the protocols the ClientHello offers (an agent offers AGENT_ALPN).
   */
  constructor(url: string, opts: { ca?: string; anyCert?: boolean; alpn?: string[] } = {}) {
    this.ws = new WebSocket(url, {
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.anyCert ? { rejectUnauthorized: false } : {}),
      ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
    });
    this.ws.on('error', () => {}); // seen as the close
    this.ws.on('message', (data) => {
      this.texts.push(data.toString());
      const d = decodeMasterMessage(data.toString());
      if (d.ok) this.messages.push(d.msg);
      else this.invalid.push(d.reason);
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

  /** Numbered once the welcome gave a session (an agent that announced `seq`), as an agent does. */
  send(body: Record<string, unknown>): void {
    const msg = envelop(body as never) as AgentMsg;
    const sid = this.messages.find((m) => m.type === 'welcome')?.sid;
    this.ws.send(encode(sid === undefined ? msg : { ...msg, sid, seq: ++this.seq }));
  }

  /** Says hello as agent `agentId` (group `raw` unless told) and waits for the welcome. */
  async hello(h: {
    agentId: string;
    token: string;
    group?: string;
    capabilities?: string[];
    dryRun?: boolean;
  }): Promise<void> {
    this.send({
      type: 'hello',
      agentId: h.agentId,
      group: h.group ?? 'raw',
      version: 'test',
      capabilities: h.capabilities ?? [],
      token: h.token,
      dryRun: h.dryRun ?? true,
    });
    await this.waitFor('welcome');
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
