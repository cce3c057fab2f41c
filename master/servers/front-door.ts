/**
 * The TCP listener in front of the HTTP(S) server: applies the per-address guard, then hands the socket
 * over. With TLS it peeks at the first byte: a TLS ClientHello (0x16) goes to the HTTPS server, anything
 * else (a plain-text HTTP or ws:// client on the TLS port) gets a short plain `400` saying to use
 * https:// or wss://, and is closed: it fails cleanly instead of hanging or seeing TLS garbage.
 */

import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { type AddressGuard, normalizeIp } from './address-guard.js';

const FIRST_BYTE_TIMEOUT_MS = 10_000;
const TLS_HANDSHAKE_RECORD = 0x16;

export interface FrontDoorOptions {
  inner: HttpServer;
  tls: boolean;
  guard: AddressGuard;
  logger: Logger;
}

export class FrontDoor {
  readonly server: Server;
  plainOnTlsPort = 0;

  constructor(private readonly opts: FrontDoorOptions) {
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    const { guard, logger, inner, tls } = this.opts;
    const ip = normalizeIp(socket.remoteAddress);
    const admission = guard.admit(ip);
    if (!admission.ok) {
      logger.warn(
        { ip, reason: admission.reason, retryAfterMs: admission.retryAfterMs, code: 'RATE_LIMITED' },
        'connection refused by the per-address limits',
      );
      socket.destroy();
      return;
    }
    socket.once('close', () => guard.release(ip));
    socket.on('error', () => {});
    if (!tls) {
      inner.emit('connection', socket);
      socket.resume();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      if (chunk[0] === TLS_HANDSHAKE_RECORD) {
        socket.unshift(chunk);
        // the TLS socket reads the unshifted ClientHello from the buffer; resuming here would lose it
        inner.emit('connection', socket);
        return;
      }
      this.plainOnTlsPort++;
      logger.warn(
        { ip, plainOnTlsPort: this.plainOnTlsPort },
        'plain-text client on the TLS port; answered 400 and closed',
      );
      const body = 'This port speaks TLS only: use https:// or wss://\n';
      socket.end(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
  }
}
