/**
 * Memory-exhaustion probes, one per port, each an unauthenticated client from one address against a
 * master with the default limits; reported as the master's RSS growth (peak during the probe minus before,
 * and what is left 2 s after the client went away). "Before" is after the master served the same kind of
 * load to clients that read their replies (NUT, HTTPS): serving costs V8's young generation its working
 * size whoever asks; the probe reports what the client that never reads makes the master keep on top:
 *  - NUT: one connection pipelines 60,000 `LIST VAR` and never reads;
 *  - HTTPS: as many TLS connections as the address may open, each pipelining unauthenticated admin
 *    requests and never reading the 401s;
 *  - WebSocket: as many upgraded connections as allowed, each with a frame announced just under the size
 *    limit and sent but for its last byte, never saying hello.
 */
import { type Socket, connect as tcpConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { MAX_MESSAGE_BYTES } from '../shared/protocol/messages.js';
import { closeAdmin, type MasterUnderTest, startMaster } from './fanout.js';
import { rssMiB, rssPeak, sleep } from './measure.js';

export interface ProbeResult {
  port: 'NUT' | 'HTTPS' | 'WebSocket';
  attack: string;
  connections: number;
  baseMiB: number;
  growthMiB: number;
  leftMiB: number;
}

const HOLD_MS = 5000;
const CONNECTIONS = 16;

async function probe(
  m: MasterUnderTest,
  port: ProbeResult['port'],
  attack: string,
  open: () => Promise<Array<Socket | TLSSocket>>,
  warmUp?: () => Promise<void>,
): Promise<ProbeResult> {
  const pid = m.process.pid!;
  await warmUp?.();
  await sleep(500);
  const base = rssMiB(pid);
  const peak = rssPeak(pid);
  const sockets = await open();
  await sleep(HOLD_MS);
  const top = peak.stop();
  for (const s of sockets) s.destroy();
  await sleep(2000);
  return {
    port,
    attack,
    connections: sockets.length,
    baseMiB: base,
    growthMiB: top - base,
    leftMiB: rssMiB(pid) - base,
  };
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** Opens up to `n` sockets with `one`; refusals (the per-address limit) just stop the count. */
async function openMany<S extends Socket>(n: number, one: () => Promise<S>): Promise<S[]> {
  const out: S[] = [];
  for (let i = 0; i < n; i++) {
    try {
      out.push(await one());
    } catch {
      break;
    }
  }
  return out;
}

function tls(m: MasterUnderTest): Promise<TLSSocket> {
  const { host, port } = hostPort(m.http);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, ca: m.certPem }, () => resolve(s));
    s.once('error', reject);
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
  });
}

/** Writes as much as the kernel takes, then more whenever it drains, until destroyed: never reads. */
function pump(s: Socket, chunk: Buffer, total: number): void {
  let sent = 0;
  const go = (): void => {
    while (sent < total && !s.destroyed) {
      sent += chunk.length;
      if (!s.write(chunk)) {
        s.once('drain', go);
        return;
      }
    }
  };
  s.on('error', () => {});
  s.pause();
  go();
}

/**
 * The NUT probe's baseline is the master after serving the same LIST VAR load to a client that reads its
 * replies: answering costs V8's young generation ~18 MiB of working size whoever asks, and what the probe
 * reports is what the client that never reads makes the master keep on top of that.
 */
async function servedToReader(port: number, requests: number): Promise<void> {
  const s = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    let tail = '';
    let ends = 0;
    s.once('error', reject);
    s.once('close', () => reject(new Error(`NUT warm-up closed after ${ends} of ${requests} replies`)));
    s.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      ends += text.split('END LIST VAR').length - 1;
      tail = text.slice(-16);
      if (ends >= requests) resolve();
    });
    s.write('LIST VAR ups\n'.repeat(requests));
  });
  s.destroy();
}

/**
 * The HTTPS probe's baseline: as many connections, each served `requests` GET /healthz in pipelined batches
 * of 50, read. (Deeper pipelining trips Node's own HTTPS server, handed-over socket or not: a bare
 * https.createServer sent 1,000 pipelined GETs in one write answers one and closes with HPE_PAUSED; no
 * HTTP client the fleet uses pipelines.)
 */
async function httpsServedToReaders(
  m: MasterUnderTest,
  connections: number,
  requests: number,
): Promise<void> {
  const BATCH = 50;
  const sockets = await openMany(connections, () => tls(m));
  await Promise.all(
    sockets.map(async (s) => {
      s.setTimeout(0);
      let answered = 0;
      let tail = '';
      let wake = () => {};
      s.on('data', (d: Buffer) => {
        const text = tail + d.toString('latin1');
        answered += text.split('HTTP/1.1 200').length - 1;
        tail = text.slice(-16);
        wake();
      });
      const closed = new Promise<never>((_, reject) =>
        s.once('close', () => reject(new Error(`HTTPS warm-up closed after ${answered} of ${requests}`))),
      );
      closed.catch(() => {});
      while (answered < requests) {
        const target = answered + BATCH;
        s.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(BATCH));
        await Promise.race([
          closed,
          new Promise<void>((resolve) => {
            wake = () => {
              if (answered >= target) resolve();
            };
          }),
        ]);
      }
    }),
  );
  for (const s of sockets) s.destroy();
  await sleep(500);
}

/** A fresh master per probe: one probe's failed authentications must not put the address in backoff for the next. */
async function withMaster<T>(run: (m: MasterUnderTest) => Promise<T>): Promise<T> {
  const m = await startMaster([{ id: 'host1', group: 'app' }], [{ groups: ['app'] }], {
    master: { limits: {} },
    sections: {
      ups: { name: 'ups', source: { type: 'simulated', script: 'ups.status: OL\nbattery.charge: 100\n' } },
      nut: { listen: '127.0.0.1:0' },
    },
  });
  try {
    return await run(m);
  } finally {
    closeAdmin(m);
    await m.stop();
  }
}

export async function exhaustionProbes(): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  results.push(
    await withMaster((m) =>
      probe(
        m,
        'NUT',
        '60,000 pipelined LIST VAR, never read',
        async () => {
          const nutPort = Number(m.nut!.split(':').at(-1));
          const s: Socket = await new Promise((resolve, reject) => {
            const c = tcpConnect(nutPort, '127.0.0.1', () => resolve(c));
            c.once('error', reject);
          });
          const line = Buffer.from('LIST VAR ups\n'.repeat(1000));
          pump(s, line, line.length * 60);
          return [s];
        },
        () => servedToReader(Number(m.nut!.split(':').at(-1)), 20_000),
      ),
    ),
  );
  results.push(
    await withMaster((m) =>
      probe(
        m,
        'HTTPS',
        'pipelined unauthenticated POST /api/fsd, 401s never read',
        async () => {
          // all connections first: the 401s put the address in failed-auth backoff
          const sockets = await openMany(CONNECTIONS, () => tls(m));
          const req = Buffer.from(
            'POST /api/fsd HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}'.repeat(
              100,
            ),
          );
          for (const s of sockets) {
            s.setTimeout(0);
            pump(s, req, req.length * 1000);
          }
          return sockets;
        },
        () => httpsServedToReaders(m, CONNECTIONS, 1_000),
      ),
    ),
  );
  results.push(
    await withMaster((m) =>
      probe(m, 'WebSocket', 'upgrade, one frame just under the limit short of its last byte, no hello', () =>
        openMany(CONNECTIONS, async () => {
          const s = await tls(m);
          s.setTimeout(0);
          s.write(
            'GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
              'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
          );
          await new Promise<void>((resolve, reject) => {
            s.once('data', (d: Buffer) =>
              d.toString().startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(d.toString())),
            );
            s.once('close', () => reject(new Error('closed')));
          });
          const length = MAX_MESSAGE_BYTES * 4 - 1;
          const header = Buffer.alloc(14);
          header[0] = 0x81;
          header[1] = 0x80 | 127;
          header.writeBigUInt64BE(BigInt(length), 2);
          pump(s, Buffer.concat([header, Buffer.alloc(length - 1, 0x20)]), length + 13);
          return s;
        }),
      ),
    ),
  );
  return results;
}
