/**
 * One broadcast message framed once for every agent. Server-to-client WebSocket frames are not masked
 * (RFC 6455 5.1), so a text frame is a small header and the UTF-8 payload: the payload bytes are built
 * once and handed, unchanged, to every socket. What differs per agent (a `seq` agent's copy carries its
 * session id and number before the closing brace, shared/protocol/replay-guard.ts) is a few dozen bytes
 * of tail and the header that counts them. Only the per-connection TLS encryption remains per agent.
 *
 * The bytes go straight to the connection's socket, as ws itself writes a frame (header and payload
 * corked into one write), and only while ws has nothing queued on that connection (ws queues only while
 * compressing, which this server never enables, or while reading a Blob, which it never sends); otherwise
 * the message goes through `ws.send` like any other, so the order of messages on a connection holds.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

const TEXT_FIN = 0x81;

/** The header of an unmasked, final text frame whose payload is `length` bytes. */
export function textFrameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([TEXT_FIN, length]);
  if (length < 65_536) {
    const h = Buffer.allocUnsafe(4);
    h[0] = TEXT_FIN;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = TEXT_FIN;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

export class SharedFrame {
  private readonly payload: Buffer;
  /** The payload without its closing brace, for the numbered copies. */
  private readonly open: Buffer;
  private whole: Buffer | null = null;

  /** `json`: the encoded message, a JSON object (it ends with `}`). */
  constructor(private readonly json: string) {
    this.payload = Buffer.from(json, 'utf8');
    this.open = this.payload.subarray(0, this.payload.length - 1);
  }

  /** The frame as is (an agent without `seq`): the same bytes for every such agent. */
  plain(): Buffer[] {
    this.whole ??= Buffer.concat([textFrameHeader(this.payload.length), this.payload]);
    return [this.whole];
  }

  /** The same message with this connection's session id and number spliced in before the closing brace. */
  numbered(sid: string, seq: number): Buffer[] {
    const tail = Buffer.from(`,"sid":"${sid}","seq":${seq}}`, 'utf8');
    return [textFrameHeader(this.open.length + tail.length), this.open, tail];
  }

  /** The text a fallback `ws.send` carries (what `plain` / `numbered` frame). */
  text(numbering?: { sid: string; seq: number }): string {
    if (!numbering) return this.json;
    return `${this.json.slice(0, -1)},"sid":"${numbering.sid}","seq":${numbering.seq}}`;
  }
}

/** The parts of ws's connection this writer looks at (not in its typings; checked before each use). */
interface WsInternals {
  _socket?: Duplex | null;
  _sender?: { _state?: number; _queue?: unknown[] } | null;
}

/** Whether ws has nothing of its own waiting on this connection, so a frame written now goes out in order. */
function senderIdle(ws: WebSocket): Duplex | null {
  const inner = ws as unknown as WsInternals;
  const socket = inner._socket;
  const sender = inner._sender;
  if (!socket || !sender || !Array.isArray(sender._queue)) return null;
  if (sender._state !== 0 || sender._queue.length > 0) return null;
  if (!socket.writable || socket.destroyed) return null;
  return socket;
}

/** Sends one framed message on a connection: straight to its socket when ws is idle, else through ws. */
export function sendFrame(ws: WebSocket, chunks: Buffer[], text: () => string): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  const socket = senderIdle(ws);
  if (!socket) {
    ws.send(text());
    return;
  }
  if (chunks.length === 1) {
    socket.write(chunks[0]!);
    return;
  }
  socket.cork();
  for (const c of chunks) socket.write(c);
  socket.uncork();
}
