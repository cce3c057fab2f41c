/**
 * A bound on the TCP connect alone. The WebSocket opening timeout (ws's handshakeTimeout) is a socket
 * *silence* timeout covering TCP, TLS and the upgrade; it is long, because a master under a reconnect
 * storm keeps a connected agent queued (silent) until a TLS handshake slot is free. A master that does not
 * even answer the TCP SYN (unplugged, powered off) must not hold the agent that long before it tries the
 * next URL: this destroys a socket still connecting after `ms`.
 */
import type { Socket } from 'node:net';
import { UpsfleetError } from '../shared/errors.js';

export function boundTcpConnect<S extends Socket>(socket: S, ms: number): S {
  if (!socket.connecting) return socket;
  const timer = setTimeout(() => {
    if (socket.connecting)
      socket.destroy(
        new UpsfleetError('MASTER_UNREACHABLE', `TCP connect to the master timed out after ${ms} ms`, { ms }),
      );
  }, ms);
  timer.unref?.();
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
  return socket;
}
