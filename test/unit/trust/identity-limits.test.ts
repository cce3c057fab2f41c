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

const hello = (agentId: string, group: string, token: string, capabilities: string[] = []) => ({
  type: 'hello',
  agentId,
  group,
  token,
  version: 'test',
  capabilities,
  dryRun: true,
});

async function join(
  m: TlsMaster,
  id: string,
  group: string,
  token: string,
  capabilities: string[] = [],
): Promise<Client> {
  const c = new Client(m);
  await c.opened();
  c.send(hello(id, group, token, capabilities));
  await c.waitFor((x) => x.type === 'welcome');
  return c;
}

/** The session id the welcome gave a `seq` agent. */
const sidOf = (c: Client) => (c.messages.find((x) => x.type === 'welcome') as { sid?: string }).sid!;
const pongAt = (ts: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ v: 1, type: 'pong', id: randomUUID(), ts, ...extra });

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

  it('rejects oversized, malformed, replayed, foreign-session and out-of-order messages, counts them, and keeps serving web2', async () => {
    const web2 = await join(m, 'web2', 'app', tokens.web2!);
    const cases: Array<[string, (c: Client) => void, number, string[]?]> = [
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
        'without the session id (seq agent)',
        (c) => c.raw(pongAt(Date.now(), { seq: 1 })),
        CloseCodes.REPLAY,
        ['seq'],
      ],
      [
        "another session's sid (seq agent)",
        (c) => c.raw(pongAt(Date.now(), { seq: 1, sid: 'f'.repeat(32) })),
        CloseCodes.REPLAY,
        ['seq'],
      ],
      [
        'out of order (seq agent)',
        (c) => {
          c.raw(pongAt(Date.now(), { seq: 2, sid: sidOf(c) }));
          c.raw(pongAt(Date.now(), { seq: 1, sid: sidOf(c) }));
        },
        CloseCodes.STALE,
        ['seq'],
      ],
    ];
    const counts = () => m.master.agentServer.rejections.toJSON();
    const before = counts();
    for (const [what, act, code, capabilities] of cases) {
      const c = await join(m, 'web1', 'app', tokens.web1!, capabilities);
      act(c);
      assert.equal((await c.closed).code, code, what);
    }
    const after = counts();
    for (const code of ['PROTO_TOO_LARGE', 'PROTO_MALFORMED', 'PROTO_STALE'] as const) {
      assert.equal((after[code] ?? 0) - (before[code] ?? 0), 1, code);
    }
    assert.equal((after.PROTO_REPLAY ?? 0) - (before.PROTO_REPLAY ?? 0), 3);
    // web2 was never disturbed and still gets pings answered / state
    assert.equal(web2.ws.readyState, WebSocket.OPEN);
    web2.send({ type: 'pong' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(web2.ws.readyState, WebSocket.OPEN);
    assert.equal(m.master.registry.get('web2')?.connected, true);
    web2.ws.close();
    await web2.closed;
  });

  it('never compares clocks: an agent an hour behind or ahead (ts going backwards too) is served, and its skew reported', async () => {
    for (const [capabilities, skewMs] of [
      [[], -3_600_000],
      [['seq'], 3_600_000],
    ] as const) {
      const c = new Client(m);
      await c.opened();
      const skewed = () => Date.now() + skewMs;
      c.raw(encode(envelop(hello('web1', 'app', tokens.web1!, [...capabilities]) as never, skewed())));
      await c.waitFor((x) => x.type === 'welcome');
      const sid = capabilities.length > 0 ? { sid: sidOf(c) } : {};
      // the pong answering the master's first ping, then one whose ts goes back a minute
      c.raw(pongAt(skewed(), capabilities.length > 0 ? { ...sid, seq: 1 } : {}));
      c.raw(pongAt(skewed() - 60_000, capabilities.length > 0 ? { ...sid, seq: 2 } : {}));
      const near = () => Math.abs((m.master.agentServer.link('web1')?.clockSkewMs ?? 0) - skewMs) < 5000;
      const until = Date.now() + 3000;
      while (!near() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.ok(near(), `skew ${m.master.agentServer.link('web1')?.clockSkewMs} measured (${skewMs})`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(c.ws.readyState, WebSocket.OPEN, `served with a clock ${skewMs} ms off`);
      assert.equal(m.master.registry.get('web1')?.connected, true);
      const status = m.master.status() as { agents: Array<{ id: string; link?: { clockSkewMs: number } }> };
      assert.ok(Math.abs(status.agents.find((a) => a.id === 'web1')!.link!.clockSkewMs - skewMs) < 5000);
      c.ws.close();
      await c.closed;
    }
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

  it('backs off an agent id after repeated failed authentications from an address (refused, then allowed again)', async () => {
    // limits.authFailures defaults to 5: the 5th failure blocks web1 from this address for 1 s (then 2 s ...)
    for (let i = 0; i < 5; i++) {
      const c = new Client(m);
      await c.opened();
      c.send(hello('web1', 'app', 'upf_bad-token-xxxxxxxxxx'));
      await c.closed;
    }
    const blocked = new Client(m);
    await blocked.opened();
    blocked.send(hello('web1', 'app', tokens.web1!));
    const refused = await blocked.closed;
    assert.equal(refused.code, CloseCodes.AUTH_FAILED);
    assert.match(refused.reason, /too often from this address/);
    assert.ok(m.master.guard.stats()['auth-backoff'] >= 1);
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

  it('keys failures by address and identity: one bad identity backs off alone, guessed identities block the address', () => {
    const clock = new ManualClock(0);
    const g = new AddressGuard({ clock, connectionsPerAddress: 10, authFailures: 2, maxBackoffMs: 4000 });
    assert.equal(g.authFailed('10.0.0.4', 'web1'), 0);
    assert.equal(g.authFailed('10.0.0.4', 'web1'), 1000);
    assert.equal(g.authFailed('10.0.0.4', 'web1'), 2000);
    assert.equal(g.mayTry('10.0.0.4', 'web1').ok, false);
    assert.deepEqual(g.mayTry('10.0.0.4', 'web2'), { ok: true }, 'the neighbour behind the same address');
    assert.deepEqual(g.mayTry('10.0.0.5', 'web1'), { ok: true }, 'the same id elsewhere');
    assert.deepEqual(g.admit('10.0.0.4'), { ok: true }, 'one identity does not block the address');
    clock.advance(2001);
    assert.deepEqual(g.mayTry('10.0.0.4', 'web1'), { ok: true });
    g.authFailed('10.0.0.4', 'guess-a');
    assert.equal(g.admit('10.0.0.4').ok, false, 'a second failing identity: the address is refused');
    g.authSucceeded('10.0.0.4', 'web1');
    assert.equal(g.admit('10.0.0.4').ok, false, "one identity's success does not clear the address");
  });

  it('rejects a repeated id; once bound, a foreign or missing sid and a seq that does not grow; never looks at ts', () => {
    const r = new ReplayGuard({ window: 3 });
    const code = (v: ReturnType<ReplayGuard['check']>) => (v.ok ? 'ok' : v.code);
    // unbound (an older agent): ids only, whatever the timestamps say
    assert.equal(code(r.check({ id: 'a', ts: 0 } as never)), 'ok');
    assert.equal(code(r.check({ id: 'a' })), 'PROTO_REPLAY');
    assert.equal(code(r.check({ id: 'b', ts: Date.now() + 3_600_000 } as never)), 'ok');
    r.bind('s'.repeat(32));
    assert.equal(code(r.check({ id: 'c' })), 'PROTO_REPLAY', 'no sid once bound');
    assert.equal(code(r.check({ id: 'd', sid: 'x'.repeat(32), seq: 1 })), 'PROTO_REPLAY', 'another sid');
    assert.equal(code(r.check({ id: 'e', sid: 's'.repeat(32) })), 'PROTO_STALE', 'no seq');
    assert.equal(code(r.check({ id: 'f', sid: 's'.repeat(32), seq: 1 })), 'ok');
    assert.equal(code(r.check({ id: 'g', sid: 's'.repeat(32), seq: 3 })), 'ok', 'a gap is fine');
    assert.equal(code(r.check({ id: 'h', sid: 's'.repeat(32), seq: 3 })), 'PROTO_STALE', 'repeated seq');
    assert.equal(code(r.check({ id: 'i', sid: 's'.repeat(32), seq: 2 })), 'PROTO_STALE', 'backwards');
    assert.equal(code(r.check({ id: 'f', sid: 's'.repeat(32), seq: 9 })), 'PROTO_REPLAY', 'a known id');
  });
});
