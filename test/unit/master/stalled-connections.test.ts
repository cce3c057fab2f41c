/**
 * Connections that stall are closed on the real TLS listener (issue 14): the front door hands each
 * socket to an https server that never listen()s, so Node's own headersTimeout/requestTimeout checks
 * never run there; the master's deadlines must. Raw TLS clients on 127.0.0.1: a ClientHello that never
 * ends, nothing after the handshake, partial headers, headers trickled a byte at a time, a WebSocket
 * upgrade trickled, a body that never comes, and idle after a keep-alive response.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { AgentServer } from '../../../master/servers/agent-server.js';
import { HttpServer } from '../../../master/servers/http-server.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { systemClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import { createSelfSigned } from '../../../shared/tls/self-signed.js';

const DEADLINE_MS = 400;
/** Far past every deadline above; before the fix these connections stayed open for good. */
const PATIENCE_MS = 6_000;

describe('stalled connections on the TLS listener', () => {
  const { keyPem, certPem } = createSelfSigned({ commonName: 'stall test', altNames: ['127.0.0.1'] });
  const hub = new StateHub('ups', systemClock);
  const agentServer = new AgentServer({
    masterId: 'm1',
    agents: [],
    registry: new FleetRegistry(),
    clock: systemClock,
    logger: silentLogger(),
    pingIntervalMs: 60_000,
    handshakeTimeoutMs: 60_000,
    snapshot: () => ({
      hub: hub.snapshot(),
      policy: { critical: false, reason: null, onBatterySince: null, communicating: true },
    }),
    stepOf: () => 1,
    steps: 1,
    feedback: { ack: () => {}, progress: () => {}, goingDown: () => {}, drillReport: () => {} },
  });
  const http = new HttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    agentServer,
    admins: [],
    tls: { keyPem, certPem },
    handshakeTimeoutMs: DEADLINE_MS,
    headersTimeoutMs: DEADLINE_MS,
    requestTimeoutMs: DEADLINE_MS * 2,
    status: () => ({ ok: true }),
    admin: { simulate: async () => {}, fsd: async () => {}, drill: async () => undefined },
  });
  let port = 0;
  const sockets: Socket[] = [];

  before(async () => {
    port = (await http.start()).port;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await agentServer.stop();
    await http.stop();
  });

  async function secure(): Promise<TLSSocket> {
    const s = tlsConnect({ port, host: '127.0.0.1', ca: certPem });
    sockets.push(s);
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    return s;
  }

  /** Resolves with what the client saw when the server closed the connection; rejects if it stays open. */
  function closedWithin(s: Socket, ms = PATIENCE_MS): Promise<string> {
    let seen = '';
    s.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
    });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
      s.once('close', () => {
        clearTimeout(t);
        resolve(seen);
      });
    });
  }

  /** Writes `text` one byte every `everyMs` until the socket closes. */
  function trickle(s: Socket, text: string, everyMs = 100): void {
    let i = 0;
    const timer = setInterval(() => {
      if (s.destroyed || s.writableEnded) return clearInterval(timer);
      s.write(text[i % text.length]!);
      i++;
    }, everyMs);
    s.once('close', () => clearInterval(timer));
  }

  it('closes a TLS handshake that never finishes (a ClientHello cut short)', async () => {
    const s = netConnect(port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a 512-byte record that never comes
    await closedWithin(s);
  });

  it('closes a connection idle after the TLS handshake', async () => {
    await closedWithin(await secure());
  });

  it('closes a connection whose headers stop half way', async () => {
    const s = await secure();
    s.write('GET /status HTTP/1.1\r\nHost: x\r\n');
    await closedWithin(s);
  });

  it('closes a connection whose headers trickle in a byte at a time', async () => {
    const s = await secure();
    trickle(
      s,
      'GET /status HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    );
    await closedWithin(s);
  });

  it('closes a WebSocket upgrade that trickles in', async () => {
    const s = await secure();
    trickle(
      s,
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    );
    await closedWithin(s);
  });

  it('closes a request whose body never comes', async () => {
    const s = await secure();
    s.write('POST /no-such-route HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{"re');
    await closedWithin(s);
  });

  it('closes a keep-alive connection whose next request trickles in, after answering the first', async () => {
    const s = await secure();
    const seen = closedWithin(s);
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    trickle(s, 'GET /status HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 50);
    assert.match(await seen, /^HTTP\/1\.1 200/);
  });

  it('keeps no listener per request on a keep-alive connection (30 requests, GET and POST)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const s = await secure();
      let seen = '';
      s.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
      });
      for (let i = 0; i < 30; i++) {
        const before = (seen.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
        s.write(
          i % 2 === 0
            ? 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
            : 'POST /no-such-route HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
        );
        const until = Date.now() + 5_000;
        while ((seen.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === before && Date.now() < until)
          await new Promise((r) => setTimeout(r, 5));
        assert.ok(Date.now() < until, `no answer to request ${i + 1}: ${JSON.stringify(seen.slice(-400))}`);
      }
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
      );
      s.destroy();
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('keeps no listener per request from a client that pipelines 50 POSTs and reads nothing', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const s = await secure();
      s.pause();
      s.write('POST /no-such-route HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'.repeat(50));
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
      );
      s.destroy();
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('still serves a client that sends its request in time', async () => {
    const s = await secure();
    const seen = closedWithin(s);
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(await seen, /^HTTP\/1\.1 200[\s\S]*"ok": true/);
  });
});
