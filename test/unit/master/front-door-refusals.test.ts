/**
 * Refusals on the main port are logged rate-limited with counters (issue 14): RefusalLog on a moved clock,
 * the fd gate's decision and its recovery line, and the front door sending its per-address and
 * fd-limit refusals through one RefusalLog (real sockets on 127.0.0.1).
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { AddressGuard } from '../../../master/servers/address-guard.js';
import { FdGate, fdReserve, isFdExhaustion, readFdLimit } from '../../../master/servers/fd-gate.js';
import { FrontDoor } from '../../../master/servers/front-door.js';
import { RefusalLog } from '../../../master/servers/refusal-log.js';
import { ManualClock } from '../../../shared/clock.js';

type Line = Record<string, unknown>;

function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Line) });
  return { logger, lines };
}

const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

test('RefusalLog: first refusal at once, then one line per kind per interval with since and total', () => {
  const clock = new ManualClock();
  const { logger, lines } = capture();
  const log = new RefusalLog(logger, clock, 10_000);
  for (let i = 0; i < 500; i++) log.note('per-address-connections', { ip: `10.0.0.${i % 250}` }, 'refused');
  log.note('fd-exhausted', { code: 'FD_EXHAUSTED' }, 'out of fds');
  assert.equal(lines.length, 2, 'one line per kind so far');
  assert.deepEqual(
    lines.map((l) => [l.refusal, l.since, l.total]),
    [
      ['per-address-connections', 1, 1],
      ['fd-exhausted', 1, 1],
    ],
  );
  clock.advance(9_999);
  log.note('per-address-connections', { ip: '10.0.0.1' }, 'refused');
  assert.equal(lines.length, 2, 'still inside the interval');
  clock.advance(1);
  log.note('per-address-connections', { ip: '10.0.0.2' }, 'refused');
  assert.equal(lines.length, 3);
  // the line carries everything refused since the last one, the total, and the latest refusal's fields
  assert.equal(lines[2]!.since, 501);
  assert.equal(lines[2]!.total, 502);
  assert.equal(lines[2]!.ip, '10.0.0.2');
  assert.equal(lines[2]!.level, 40);
  assert.deepEqual(log.counts(), { 'per-address-connections': 502, 'fd-exhausted': 1 });
});

test('FdGate: refuses a socket numbered within the reserve of the limit, says once when it accepts again', () => {
  const { logger, lines } = capture();
  const refused: Line[] = [];
  const gate = new FdGate({ limit: 128, reserve: 16, logger, refuse: (f) => refused.push(f) });
  const sock = (fd: number) => ({ _handle: { fd } }) as unknown as Socket;
  assert.equal(gate.admit(sock(100)), true);
  assert.equal(gate.admit(sock(111)), true);
  assert.equal(gate.admit(sock(112)), false);
  assert.equal(gate.admit(sock(127)), false);
  assert.deepEqual(refused[0], { code: 'FD_EXHAUSTED', fd: 112, limit: 128, reserve: 16 });
  assert.equal(lines.length, 0, 'refusals are the refusal log’s to write');
  assert.equal(gate.admit(sock(40)), true);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.refusedWhileExhausted, 2);
  assert.equal(lines[0]!.fdExhausted, false);
  assert.equal(gate.admit(sock(41)), true);
  assert.equal(lines.length, 1, 'said once');
  // unknown limit or descriptor (not Linux, a socket without a handle): never refused on a guess
  const blind = new FdGate({ limit: null, logger, refuse: (f) => refused.push(f) });
  assert.equal(blind.admit(sock(1_000_000)), true);
  assert.equal(gate.admit({} as Socket), true);
  // accept errors: EMFILE/ENFILE are refusals, anything else is not this gate's
  assert.equal(gate.acceptFailed(Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' })), true);
  assert.equal(
    gate.acceptFailed(Object.assign(new Error('accept ECONNABORTED'), { code: 'ECONNABORTED' })),
    false,
  );
  assert.equal(refused.length, 3);
});

test('fd limit helpers: /proc/self/limits, the reserve, errno-only EMFILE', () => {
  const limit = readFdLimit();
  if (process.platform === 'linux') assert.ok(limit === null || limit > 0);
  assert.equal(readFdLimit('/nonexistent/limits'), null);
  assert.equal(fdReserve(128), 16);
  assert.equal(fdReserve(1024), 64);
  assert.equal(fdReserve(1_048_576), 64);
  // what os.networkInterfaces() throws at the limit: ERR_SYSTEM_ERROR, errno 24
  assert.equal(
    isFdExhaustion(
      Object.assign(new Error('uv_interface_addresses'), { code: 'ERR_SYSTEM_ERROR', errno: 24 }),
    ),
    true,
  );
  assert.equal(isFdExhaustion(Object.assign(new Error('x'), { code: 'ENOENT', errno: -2 })), false);
  assert.equal(isFdExhaustion(null), false);
});

async function frontDoor(opts: {
  connectionsPerAddress: number;
  fdLimit: number | null;
  fdReserve?: number;
}) {
  const clock = new ManualClock();
  const { logger, lines } = capture();
  const refusals = new RefusalLog(logger, clock, 10_000);
  const inner = createHttpServer((_req, res) => res.end('ok'));
  const guard = new AddressGuard({
    clock,
    connectionsPerAddress: opts.connectionsPerAddress,
    authFailures: 10,
    maxBackoffMs: 1000,
  });
  const front = new FrontDoor({
    inner,
    tls: false,
    guard,
    logger,
    refusals,
    fdLimit: opts.fdLimit,
    ...(opts.fdReserve === undefined ? {} : { fdReserve: opts.fdReserve }),
  });
  await new Promise<void>((r) => front.server.listen(0, '127.0.0.1', () => r()));
  front.watchAcceptErrors();
  const port = (front.server.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  closers.push(() => {
    for (const s of sockets) s.destroy();
    front.close();
    inner.closeAllConnections();
    front.server.close();
  });
  /** Connects and resolves once the master ended the connection, or after `ms` if it did not. */
  const attempt = (ms = 2_000) =>
    new Promise<'closed' | 'open'>((resolve) => {
      const s = connect(port, '127.0.0.1');
      sockets.push(s);
      s.on('error', () => {});
      const t = setTimeout(() => resolve('open'), ms);
      s.once('close', () => {
        clearTimeout(t);
        resolve('closed');
      });
    });
  return { clock, lines, refusals, attempt };
}

test('front door: 200 per-address refusals make one log line, all counted', async () => {
  const d = await frontDoor({ connectionsPerAddress: 1, fdLimit: null });
  assert.equal(await d.attempt(200), 'open', 'the one allowed connection is held');
  const outcomes = await Promise.all(Array.from({ length: 200 }, () => d.attempt()));
  assert.ok(outcomes.every((o) => o === 'closed'));
  const refusalLines = d.lines.filter((l) => l.refusal === 'per-address-connections');
  assert.equal(refusalLines.length, 1);
  assert.equal(refusalLines[0]!.code, 'RATE_LIMITED');
  assert.equal(d.refusals.counts()['per-address-connections'], 200);
  d.clock.advance(10_000);
  assert.equal(await d.attempt(), 'closed');
  const later = d.lines.filter((l) => l.refusal === 'per-address-connections');
  assert.equal(later.length, 2);
  assert.equal(later[1]!.since, 200, 'the refusals since the last line');
  assert.equal(later[1]!.total, 201);
});

test('front door at the fd limit: refused with one FD_EXHAUSTED line before the per-address check', async () => {
  // every descriptor this process can hand a socket is "within the reserve": everything is refused
  const d = await frontDoor({ connectionsPerAddress: 1000, fdLimit: 1, fdReserve: 1 });
  const outcomes = await Promise.all(Array.from({ length: 50 }, () => d.attempt()));
  assert.ok(outcomes.every((o) => o === 'closed'));
  const fdLines = d.lines.filter((l) => l.code === 'FD_EXHAUSTED');
  assert.equal(fdLines.length, 1);
  assert.equal(fdLines[0]!.refusal, 'fd-exhausted');
  assert.equal(fdLines[0]!.limit, 1);
  assert.equal(d.refusals.counts()['fd-exhausted'], 50);
  assert.equal(d.refusals.counts()['per-address-connections'], undefined);
});
