/**
 * Identity and limits on a real TLS master: wrong and revoked tokens are refused; an agent can neither
 * join a group its token does not grant nor acknowledge another agent's order; oversized, malformed,
 * replayed and stale messages close only the offending connection and are counted; the per-address
 * failed-auth backoff and connection limit engage; admin tokens from the tokens file work on the API.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { addToken, revokeToken } from '../../../master/auth/token-store.js';
import { AddressGuard } from '../../../master/servers/address-guard.js';
import { ManualClock } from '../../../shared/clock.js';
import { decodeMasterMessage, encode, envelop } from '../../../shared/protocol/codec.js';
import { CloseCodes, type MasterMsg, type OrderMsg } from '../../../shared/protocol/messages.js';
import { ReplayGuard } from '../../../shared/protocol/replay-guard.js';
import { pinnedRequest } from '../../../shared/tls/pinned-request.js';
import { startTlsMaster, type TlsMaster } from './helpers.js';

/** A raw protocol client over wss with the pin checked by the CA option (the self-signed cert). */
class Client {
  readonly messages: MasterMsg[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(m: TlsMaster) {
    this.ws = new WebSocket(m.url, { ca: m.certPem });
    this.ws.on('message', (d) => {
      const r = decodeMasterMessage(String(d));
      if (r.ok) this.messages.push(r.msg);
    });
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  send(body: Record<string, unknown>): void {
    this.ws.send(encode(envelop(body as never)));
  }
  raw(data: string | Buffer): void {
    this.ws.send(data);
  }
  async waitFor(pred: (m: MasterMsg) => boolean, ms = 5000): Promise<MasterMsg> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.messages.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error('timed out waiting for a message');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const hello = (agentId: string, group: string, token: string) => ({
  type: 'hello',
  agentId,
  group,
  token,
  version: 'test',
  capabilities: [],
  dryRun: true,
});

async function join(m: TlsMaster, id: string, group: string, token: string): Promise<Client> {
  const c = new Client(m);
  await c.opened();
  c.send(hello(id, group, token));
  await c.waitFor((x) => x.type === 'welcome');
  return c;
}

describe('agent identity, roles and limits', () => {
  let m: TlsMaster;
  const tokens: Record<string, string> = {};

  before(async () => {
    m = await startTlsMaster();
    const file = m.master.settings.tokensFile;
    tokens.web1 = addToken(file, 'web1', 'agent', 'app');
    tokens.web2 = addToken(file, 'web2', 'agent', 'app');
    tokens.db1 = addToken(file, 'db1', 'agent', 'db');
    tokens.ops = addToken(file, 'ops', 'admin', undefined);
    m.master.tokens.invalidate();
  });
  after(async () => {
    await m.master.stop();
  });

  it('refuses a wrong token and an unknown agent with 4010', async () => {
    for (const [id, token] of [
      ['web1', 'upf_wrong-token-xxxxxxxx'],
      ['nobody', tokens.web1!],
    ] as const) {
      const c = new Client(m);
      await c.opened();
      c.send(hello(id, 'app', token));
      assert.equal((await c.closed).code, CloseCodes.AUTH_FAILED);
    }
    m.master.guard.authSucceeded('127.0.0.1');
  });

  it('refuses a group the token does not grant with 4011', async () => {
    const c = new Client(m);
    await c.opened();
    c.send(hello('db1', 'app', tokens.db1!));
    const closed = await c.closed;
    assert.equal(closed.code, CloseCodes.AUTH_FORBIDDEN);
    assert.match(closed.reason, /claims group "app" but its token grants "db"/);
  });

  it('drops a revoked agent and refuses its token afterwards', async () => {
    const tmp = addToken(m.master.settings.tokensFile, 'tmp1', 'agent', 'app');
    m.master.tokens.invalidate();
    const c = await join(m, 'tmp1', 'app', tmp);
    revokeToken(m.master.settings.tokensFile, 'tmp1');
    m.master.tokens.invalidate();
    m.master.tokens.current();
    assert.equal((await c.closed).code, CloseCodes.AUTH_FAILED);
    const again = new Client(m);
    await again.opened();
    again.send(hello('tmp1', 'app', tmp));
    assert.equal((await again.closed).code, CloseCodes.AUTH_FAILED);
    m.master.guard.authSucceeded('127.0.0.1');
  });

  it("lets an agent acknowledge only its own order (another's ack and going-down are ignored)", async () => {
    const web1 = await join(m, 'web1', 'app', tokens.web1!);
    const db1 = await join(m, 'db1', 'db', tokens.db1!);
    m.master.sequencer.start('test drill', { drill: true });
    const order = (await web1.waitFor((x) => x.type === 'order')) as OrderMsg;
    const before = m.master.sequencer.view().ignoredMessages;
    db1.send({ type: 'ack', orderId: order.orderId });
    db1.send({ type: 'going-down', orderId: order.orderId, dryRun: true, hookFailures: 0 });
    const deadline = Date.now() + 3000;
    while (m.master.sequencer.view().ignoredMessages < before + 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const view = m.master.sequencer.view();
    assert.equal(view.ignoredMessages, before + 2);
    const member = view.steps[0]!.members.find((x) => x.id === 'web1')!;
    assert.equal(member.ackAt, null, "web1's order was not acknowledged by db1");
    assert.equal(member.goingDownAt, null);
    web1.send({ type: 'ack', orderId: order.orderId });
    const until = Date.now() + 3000;
    while (
      m.master.sequencer.view().steps[0]!.members.find((x) => x.id === 'web1')!.ackAt === null &&
      Date.now() < until
    )
      await new Promise((r) => setTimeout(r, 20));
    assert.notEqual(m.master.sequencer.view().steps[0]!.members.find((x) => x.id === 'web1')!.ackAt, null);
    web1.ws.close();
    db1.ws.close();
    await Promise.all([web1.closed, db1.closed]);
  });

  it('rejects oversized, malformed, replayed, stale and out-of-order messages, counts them, and keeps serving web2', async () => {
    const web2 = await join(m, 'web2', 'app', tokens.web2!);
    const cases: Array<[string, (c: Client) => void, number]> = [
      ['oversized', (c) => c.raw(JSON.stringify({ pad: 'x'.repeat(70 * 1024) })), CloseCodes.TOO_LARGE],
      ['malformed', (c) => c.raw('{not json'), CloseCodes.MALFORMED],
      [
        'replayed',
        (c) => {
          const pong = encode(envelop({ type: 'pong' } as never));
          c.raw(pong);
          c.raw(pong);
        },
        CloseCodes.REPLAY,
      ],
      [
        'stale',
        (c) => c.raw(JSON.stringify({ v: 1, type: 'pong', id: randomUUID(), ts: Date.now() - 3_600_000 })),
        CloseCodes.STALE,
      ],
      [
        'out of order',
        (c) => {
          c.raw(JSON.stringify({ v: 1, type: 'pong', id: randomUUID(), ts: Date.now() }));
          c.raw(JSON.stringify({ v: 1, type: 'pong', id: randomUUID(), ts: Date.now() - 60_000 }));
        },
        CloseCodes.STALE,
      ],
    ];
    const counts = () => m.master.agentServer.rejections.toJSON();
    const before = counts();
    for (const [what, act, code] of cases) {
      const c = await join(m, 'web1', 'app', tokens.web1!);
      act(c);
      assert.equal((await c.closed).code, code, what);
    }
    const after = counts();
    for (const code of ['PROTO_TOO_LARGE', 'PROTO_MALFORMED', 'PROTO_REPLAY'] as const) {
      assert.equal((after[code] ?? 0) - (before[code] ?? 0), 1, code);
    }
    assert.equal((after.PROTO_STALE ?? 0) - (before.PROTO_STALE ?? 0), 2);
    // web2 was never disturbed and still gets pings answered / state
    assert.equal(web2.ws.readyState, WebSocket.OPEN);
    web2.send({ type: 'pong' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(web2.ws.readyState, WebSocket.OPEN);
    assert.equal(m.master.registry.get('web2')?.connected, true);
    web2.ws.close();
    await web2.closed;
  });

  it('accepts admin tokens from the tokens file on the API and refuses agent tokens there', async () => {
    const post = (token: string) =>
      pinnedRequest(`${m.http}/api/simulate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'battery.charge', value: '90' }),
        fingerprints: [m.fingerprint],
      });
    assert.equal((await post(tokens.ops!)).status, 200);
    assert.equal((await post(tokens.web1!)).status, 401);
    m.master.guard.authSucceeded('127.0.0.1');
  });

  it('backs off an address after repeated failed authentications (connections refused, then allowed again)', async () => {
    // limits.authFailures defaults to 5: the 5th failure blocks the address for 1 s (then 2 s, 4 s ...)
    for (let i = 0; i < 5; i++) {
      const c = new Client(m);
      await c.opened();
      c.send(hello('web1', 'app', 'upf_bad-token-xxxxxxxxxx'));
      await c.closed;
    }
    const blocked = new Client(m);
    await assert.rejects(blocked.opened());
    assert.ok(m.master.guard.stats()['auth-backoff'] >= 1);
    assert.ok((m.master.status().limits as { blockedAddresses: number }).blockedAddresses >= 1);
    await new Promise((r) => setTimeout(r, 2100));
    const c = await join(m, 'web1', 'app', tokens.web1!);
    c.ws.close();
    await c.closed;
  });
});

describe('address guard and replay guard (pure, on a manual clock)', () => {
  it('limits open connections per address and doubles the failed-auth backoff up to the maximum', () => {
    const clock = new ManualClock(0);
    const g = new AddressGuard({ clock, connectionsPerAddress: 2, authFailures: 2, maxBackoffMs: 4000 });
    assert.deepEqual(g.admit('10.0.0.1'), { ok: true });
    assert.deepEqual(g.admit('10.0.0.1'), { ok: true });
    assert.equal(g.admit('10.0.0.1').ok, false);
    assert.deepEqual(g.admit('10.0.0.2'), { ok: true });
    g.release('10.0.0.1');
    assert.deepEqual(g.admit('10.0.0.1'), { ok: true });
    assert.equal(g.authFailed('10.0.0.3'), 0);
    assert.equal(g.authFailed('10.0.0.3'), 1000);
    assert.equal(g.authFailed('10.0.0.3'), 2000);
    assert.equal(g.authFailed('10.0.0.3'), 4000);
    assert.equal(g.authFailed('10.0.0.3'), 4000);
    const refused = g.admit('10.0.0.3');
    assert.equal(refused.ok, false);
    clock.advance(4001);
    assert.deepEqual(g.admit('10.0.0.3'), { ok: true });
    g.authSucceeded('10.0.0.3');
    assert.equal(g.authFailed('10.0.0.3'), 0);
  });

  it('rejects a repeated id, a ts outside the skew window, and a ts going backwards', () => {
    const r = new ReplayGuard({ maxSkewMs: 1000, backwardToleranceMs: 100 });
    assert.deepEqual(r.check({ id: 'a', ts: 10_000 }, 10_000), { ok: true });
    assert.equal(r.check({ id: 'a', ts: 10_001 }, 10_001).ok, false);
    assert.equal((r.check({ id: 'b', ts: 12_000 }, 10_000) as { code: string }).code, 'PROTO_STALE');
    assert.equal((r.check({ id: 'c', ts: 8_000 }, 10_000) as { code: string }).code, 'PROTO_STALE');
    assert.deepEqual(r.check({ id: 'd', ts: 10_500 }, 10_500), { ok: true });
    assert.equal((r.check({ id: 'e', ts: 10_300 }, 10_500) as { code: string }).code, 'PROTO_STALE');
    assert.deepEqual(r.check({ id: 'f', ts: 10_450 }, 10_500), { ok: true });
  });
});
