/**
 * The front door runs a bounded number of TLS handshakes in arrival order and sheds, before any TLS work,
 * what it cannot finish in time (issue 10, reconnect storms). Real sockets and TLS on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AddressGuard } from '../../../master/servers/address-guard.js';
import { FrontDoor } from '../../../master/servers/front-door.js';
import { systemClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import { createSelfSigned } from '../../../shared/tls/self-signed.js';

const { keyPem, certPem } = createSelfSigned({ commonName: 'front door test', altNames: ['127.0.0.1'] });
const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

async function door(opts: { maxHandshakes: number; queueBudgetMs: number; now?: () => number }) {
  const inner = createHttpsServer({ key: keyPem, cert: certPem, handshakeTimeout: 30_000 }, (_req, res) =>
    res.end('ok'),
  );
  const guard = new AddressGuard({
    clock: systemClock,
    connectionsPerAddress: 1000,
    authFailures: 10,
    maxBackoffMs: 1000,
  });
  const front = new FrontDoor({ inner, tls: true, guard, logger: silentLogger() as never, ...opts });
  await new Promise<void>((r) => front.server.listen(0, '127.0.0.1', () => r()));
  const port = (front.server.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  closers.push(() => {
    for (const s of sockets) s.destroy();
    front.close();
    inner.closeAllConnections();
    front.server.close();
  });
  /** A client that starts a TLS record and never finishes it: it holds a handshake slot. */
  const stuck = async () => {
    const s = netConnect(port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); // a 512-byte record that never comes
    return s;
  };
  /** A real TLS client; resolves 'secure' or the error code. */
  const client = () => {
    const s: TLSSocket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    sockets.push(s);
    const outcome = new Promise<string>((resolve) => {
      s.once('secureConnect', () => resolve('secure'));
      s.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
    });
    return { socket: s, outcome };
  };
  const until = async (what: string, cond: () => boolean) => {
    const end = Date.now() + 5_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out: ${what} ${JSON.stringify(front.handshakeStats())}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { front, stuck, client, until };
}

test('a finished handshake frees its slot at once (not when the connection closes)', async () => {
  const d = await door({ maxHandshakes: 1, queueBudgetMs: 20_000 });
  const a = d.client();
  assert.equal(await a.outcome, 'secure');
  const b = d.client();
  assert.equal(
    await b.outcome,
    'secure',
    'the second one is not held behind the first, still open, connection',
  );
  await d.until('both done', () => d.front.handshakeStats().done === 2);
  assert.equal(d.front.handshakeStats().active, 0);
});

test('beyond maxHandshakes connections wait in arrival order, then are served', async () => {
  const d = await door({ maxHandshakes: 2, queueBudgetMs: 20_000 });
  const s1 = await d.stuck();
  await d.stuck();
  await d.until('two slots held', () => d.front.handshakeStats().active === 2);
  const first = d.client();
  await d.until('first queued', () => d.front.handshakeStats().queued === 1);
  const second = d.client();
  await d.until('second queued', () => d.front.handshakeStats().queued === 2);
  const order: string[] = [];
  void first.outcome.then(() => order.push('first'));
  void second.outcome.then(() => order.push('second'));
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(order, [], 'nobody is half-served while the slots are busy');
  s1.destroy(); // one slot frees
  assert.equal(await first.outcome, 'secure');
  assert.equal(await second.outcome, 'secure');
  assert.deepEqual(order, ['first', 'second']);
  assert.equal(d.front.handshakeStats().shed, 0);
});

test('a connection that waited longer than the budget is shed with a reset, before any TLS work', async () => {
  let now = 1_000_000;
  const d = await door({ maxHandshakes: 1, queueBudgetMs: 5_000, now: () => now });
  const s1 = await d.stuck();
  await d.until('slot held', () => d.front.handshakeStats().active === 1);
  const late = d.client();
  await d.until('queued', () => d.front.handshakeStats().queued === 1);
  now += 5_001;
  s1.destroy(); // a slot frees: the queue is looked at, its head waited too long
  assert.equal(await late.outcome, 'ECONNRESET');
  const stats = d.front.handshakeStats();
  assert.equal(stats.shed, 1);
  assert.equal(stats.queued, 0);
  assert.equal(stats.done, 1, 'only the stuck one ever reached TLS');
});

test('at arrival: shed at once when the rate measured while saturated says the queue ahead takes too long', async () => {
  let now = 1_000_000;
  const d = await door({ maxHandshakes: 1, queueBudgetMs: 3_000, now: () => now });
  // one handshake finished within the rate window: 1 per 2 s
  assert.equal(await d.client().outcome, 'secure');
  await d.stuck();
  await d.until('slot held', () => d.front.handshakeStats().active === 1);
  const first = d.client();
  await d.until('queued', () => d.front.handshakeStats().queued === 1);
  const second = d.client();
  await d.until('queued', () => d.front.handshakeStats().queued === 2);
  assert.equal(d.front.handshakeStats().shed, 0, 'a young burst: the rate is not trusted yet');
  now += 2_000; // saturated for a whole rate window
  // two ahead at 1 per 2 s = 4 s > 3 s: refused at once
  const refused = d.client();
  assert.equal(await refused.outcome, 'ECONNRESET');
  assert.equal(d.front.handshakeStats().shed, 1);
  assert.equal(d.front.handshakeStats().queued, 2, 'those already waiting keep their place');
  first.socket.destroy();
  second.socket.destroy();
});

test('a client that gives up while queued costs no handshake', async () => {
  const d = await door({ maxHandshakes: 1, queueBudgetMs: 20_000 });
  const s1 = await d.stuck();
  await d.until('slot held', () => d.front.handshakeStats().active === 1);
  const quitter = d.client();
  await d.until('queued', () => d.front.handshakeStats().queued === 1);
  quitter.socket.destroy();
  await d.until('abandoned', () => d.front.handshakeStats().abandoned === 1);
  s1.destroy();
  await d.until('slot free', () => d.front.handshakeStats().active === 0);
  const stats = d.front.handshakeStats();
  assert.equal(stats.done, 1, 'only the stuck one reached TLS');
  assert.equal(stats.queued, 0);
});
