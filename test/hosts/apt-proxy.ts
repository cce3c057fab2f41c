/**
 * The test hosts' only way out: an HTTP proxy on the bridge address that forwards GET/HEAD requests for the
 * machine's own Debian archives (the URL prefixes of its apt sources) and refuses everything else with 403.
 * Package files (`/pool/`, immutable by name) are kept in a cache directory, so hosts created on later runs
 * install from disk.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';

export interface AptProxy {
  readonly url: string;
  /** Requests refused because they were not for one of the allowed archives. */
  readonly refused: string[];
  close(): Promise<void>;
}

export async function startAptProxy(opts: {
  host: string;
  allowedPrefixes: readonly string[];
  cacheDir: string;
}): Promise<AptProxy> {
  const prefixes = opts.allowedPrefixes.map((p) => (p.endsWith('/') ? p : `${p}/`));
  const refused: string[] = [];
  mkdirSync(opts.cacheDir, { recursive: true });
  const server: Server = createServer((req, res) => {
    const target = req.url ?? '';
    const allowed =
      (req.method === 'GET' || req.method === 'HEAD') && prefixes.some((p) => target.startsWith(p));
    if (!allowed) {
      refused.push(`${req.method} ${target}`);
      res.writeHead(403, { 'content-type': 'text/plain' }).end('only the Debian archives of this machine\n');
      return;
    }
    const cacheable = req.method === 'GET' && /\/pool\/.+\.deb$/.test(new URL(target).pathname);
    const cached = join(opts.cacheDir, createHash('sha256').update(target).digest('hex'));
    if (cacheable && existsSync(cached)) {
      res.writeHead(200, { 'content-type': 'application/vnd.debian.binary-package' });
      createReadStream(cached).pipe(res);
      return;
    }
    const send = target.startsWith('https:') ? httpsRequest : httpRequest;
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers.host;
    const upstream = send(target, { method: req.method, headers }, (up: IncomingMessage) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (cacheable && up.statusCode === 200) {
        const part = `${cached}.${process.pid}.part`;
        const file = createWriteStream(part);
        up.pipe(file);
        file.on('finish', () => {
          try {
            renameSync(part, cached);
          } catch {
            rmSync(part, { force: true });
          }
        });
      }
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`upstream: ${err.message}\n`);
    });
    upstream.end();
  });
  // https archives go through CONNECT: a tunnel only to the host:port of an allowed https archive
  const tunnels = new Set(
    prefixes
      .filter((p) => p.startsWith('https:'))
      .map((p) => {
        const u = new URL(p);
        return `${u.hostname}:${u.port || '443'}`;
      }),
  );
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const target = req.url ?? '';
    if (!tunnels.has(target)) {
      refused.push(`CONNECT ${target}`);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const [host, port] = [
      target.slice(0, target.lastIndexOf(':')),
      target.slice(target.lastIndexOf(':') + 1),
    ];
    const up = connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}/`,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
