/**
 * One HTTP(S) request to a master with the same trust rules as an agent: over https the TLS handshake
 * is completed and the certificate checked against the pin (or the CA) *before* any byte of the request
 * (which may carry an admin token) is written. Used by the CLI and the demo launcher.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { UpsfleetError } from '../errors.js';
import { fingerprintOfDer } from './fingerprint.js';

export interface PinnedRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Accepted `sha256:<hex>` fingerprints; empty: verify against `caPem` or the system CAs. */
  fingerprints?: readonly string[];
  caPem?: string;
  timeoutMs?: number;
}

export interface PinnedResponse {
  status: number;
  text: string;
}

function secureSocket(u: URL, opts: PinnedRequestOptions): Promise<TLSSocket> {
  const pins = opts.fingerprints ?? [];
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(u.port || 443),
      servername: isIP(host) ? undefined : host,
      ...(opts.caPem ? { ca: opts.caPem } : {}),
      rejectUnauthorized: pins.length === 0 || opts.caPem !== undefined,
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const presented = fingerprintOfDer(socket.getPeerCertificate(false).raw);
      if (pins.length > 0 && !pins.includes(presented)) {
        socket.destroy();
        reject(
          new UpsfleetError(
            'TLS_PIN_MISMATCH',
            `the master's certificate ${presented} does not match the pinned ${pins.join(', ')}`,
            {
              presented,
              pinned: [...pins],
            },
          ),
        );
        return;
      }
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

export async function pinnedRequest(url: string, opts: PinnedRequestOptions = {}): Promise<PinnedResponse> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const socket = secure ? await secureSocket(u, opts) : undefined;
  const send = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: opts.method ?? 'GET',
        headers: {
          ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
          ...opts.headers,
        },
        ...(socket ? { createConnection: () => socket } : {}),
        timeout: opts.timeoutMs ?? 5000,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.host} in time`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface PinnedStream {
  status: number;
  /** The body when the status is not 200 (the stream is then already closed). */
  text: string;
  /** Resolves when the stream ends, from either side. */
  ended: Promise<void>;
  close(): void;
}

/**
 * A long-lived GET (the master's live stream) with the same trust rules as `pinnedRequest`: each chunk of
 * a 200 answer goes to `onText` as it arrives; any other status is read whole and returned.
 */
export async function pinnedStream(
  url: string,
  opts: Omit<PinnedRequestOptions, 'method' | 'body'>,
  onText: (text: string) => void,
): Promise<PinnedStream> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const socket = secure ? await secureSocket(u, opts) : undefined;
  const send = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: 'GET',
        headers: { accept: 'text/event-stream', ...opts.headers },
        ...(socket ? { createConnection: () => socket } : {}),
        timeout: opts.timeoutMs ?? 5000,
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const ended = new Promise<void>((done) => {
          res.once('close', () => done());
          res.once('error', () => done());
        });
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status,
              text: Buffer.concat(chunks).toString('utf8'),
              ended,
              close: () => req.destroy(),
            }),
          );
          return;
        }
        // connected: from now on silence is the master's to break (keepalives), not a request timeout
        req.setTimeout(0);
        res.setEncoding('utf8');
        res.on('data', (t: string) => onText(t));
        resolve({ status, text: '', ended, close: () => req.destroy() });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.host} in time`)));
    req.on('error', reject);
    req.end();
  });
}
