/**
 * One agent connection as the agent server sees it, wherever its TLS and WebSocket framing run: in this
 * process (a ws connection, WsLink) or in a TLS worker process (tls-worker/tls-worker-pool.ts). The agent
 * server decides everything (authentication, numbering, close causes); a link only carries messages.
 */
import { type RawData, WebSocket } from 'ws';
import { type SharedFrame, sendFrame } from './shared-frame.js';

/** A WebSocket message's bytes as one buffer (ws hands over a buffer, fragments, or an ArrayBuffer). */
export function bufferOf(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
}

/** What a link reports to the agent server, in the order it happened on the connection. */
export interface LinkEvents {
  message(raw: Buffer, isBinary: boolean): void;
  /** A WebSocket error (`code`: ws's error code, e.g. WS_ERR_UNSUPPORTED_MESSAGE_LENGTH). */
  error(code: string | undefined, err: Error): void;
  /**
   * The connection closed. `lostBy`: the master's side lost it (a TLS worker died) and the agent did not
   * close it: such a close never confirms an agent down.
   */
  close(lostBy?: string): void;
}

export interface AgentLink {
  readonly isOpen: boolean;
  /** One message to this agent (numbered by the caller when the agent numbers). */
  send(text: string): void;
  /** One broadcast frame, the same bytes for every agent but the numbering tail. */
  sendShared(frame: SharedFrame, numbering: { sid: string; seq: number } | null): void;
  /** The session id of an agent that numbers messages (set once, at its welcome). */
  numbered(sid: string): void;
  /** A close frame with this code. */
  close(code: number, reason: string): void;
  /** The connection dropped at once, a tick after any close frame written just before. */
  terminate(): void;
  /** Where the link reports; called once, by the agent server. */
  bind(events: LinkEvents): void;
}

/** A connection whose TLS and WebSocket run in this process. */
export class WsLink implements AgentLink {
  constructor(private readonly ws: WebSocket) {}

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    if (this.isOpen) this.ws.send(text);
  }

  sendShared(frame: SharedFrame, numbering: { sid: string; seq: number } | null): void {
    if (numbering === null) sendFrame(this.ws, frame.plain(), () => frame.text());
    else sendFrame(this.ws, frame.numbered(numbering.sid, numbering.seq), () => frame.text(numbering));
  }

  numbered(_sid: string): void {}

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  bind(events: LinkEvents): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => events.message(bufferOf(data), isBinary));
    this.ws.on('close', () => events.close());
    this.ws.on('error', (err) => events.error((err as { code?: string }).code, err));
  }
}
