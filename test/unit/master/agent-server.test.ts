import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { AgentServer } from '../../../master/servers/agent-server.js';
import { HttpServer } from '../../../master/servers/http-server.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { hashToken } from '../../../shared/auth/token.js';
import { systemClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import { CloseCodes, MAX_MESSAGE_BYTES } from '../../../shared/protocol/messages.js';
import { TestClient } from '../../support/ws-client.js';

const TOKENS = { web1: 'token-web1-xxxxxxxx', web2: 'token-web2-xxxxxxxx', db1: 'token-db1-xxxxxxxxx' };

describe('agent WebSocket server', () => {
  const hub = new StateHub('ups', systemClock);
  const registry = new FleetRegistry();
  const acks: string[] = [];
  const policy = { critical: false, reason: null, onBatterySince: null, communicating: true };
  const agentServer = new AgentServer({
    masterId: 'm1',
    agents: [
      { id: 'web1', group: 'app', tokenHash: hashToken(TOKENS.web1) },
      { id: 'web2', group: 'app', tokenHash: hashToken(TOKENS.web2) },
      { id: 'db1', group: 'db', tokenHash: hashToken(TOKENS.db1) },
    ],
    registry,
    clock: systemClock,
    logger: silentLogger(),
    pingIntervalMs: 60_000,
    handshakeTimeoutMs: 5_000,
    snapshot: () => ({ hub: hub.snapshot(), policy }),
    stepOf: (g) => (g === 'app' ? 1 : g === 'db' ? 2 : null),
    steps: 2,
    lostMasterSpacingMs: 10_000,
    feedback: {
      ack: (id, m) => acks.push(`${id}:${m.orderId}`),
      progress: () => {},
      goingDown: () => {},
      drillReport: () => {},
    },
  });
  const http = new HttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    agentServer,
    admins: [],
    status: () => ({ ok: true }),
    admin: { simulate: async () => {}, fsd: async () => {}, drill: async () => undefined },
  });
  let url = '';

  before(async () => {
    hub.publishVars({ 'ups.status': 'OL', 'battery.charge': '100' });
    const addr = await http.start();
    url = `ws://127.0.0.1:${addr.port}/ws`;
  });
  after(async () => {
    await agentServer.stop();
    await http.stop();
  });

  const hello = (id: keyof typeof TOKENS, group: string, token: string = TOKENS[id]) => ({
    type: 'hello',
    agentId: id,
    group,
    version: 'test',
    capabilities: [],
    token,
    dryRun: true,
  });

  async function connected(id: keyof typeof TOKENS, group: string): Promise<TestClient> {
    const c = new TestClient(url);
    await c.opened();
    c.send(hello(id, group));
    await c.waitFor('state');
    return c;
  }

  it('welcomes an authenticated agent with its step and the full snapshot, then pushes changes', async () => {
    const c = await connected('web1', 'app');
    const [welcome] = await c.waitFor('welcome');
    assert.equal(welcome!.masterId, 'm1');
    assert.equal(welcome!.step, 1);
    assert.equal(welcome!.steps, 2);
    const [state] = await c.waitFor('state');
    assert.equal(state!.vars['ups.status'], 'OL');
    assert.equal(registry.get('web1')?.connected, true);
    hub.publishVars({ 'ups.status': 'OB DISCHRG', 'battery.charge': '90' });
    agentServer.broadcastState(hub.snapshot(), policy);
    const states = await c.waitFor('state', 2);
    assert.equal(states[1]!.vars['ups.status'], 'OB DISCHRG');
    c.close();
    await c.closed;
  });

  it('tells each agent how much longer than its deadtime to wait when the master is lost: (step - 1) × spacing', async () => {
    for (const [id, group, delay] of [
      ['web1', 'app', 0],
      ['db1', 'db', 10_000],
    ] as const) {
      const c = await connected(id, group);
      const [welcome] = await c.waitFor('welcome');
      assert.equal(welcome!.lostMasterDelayMs, delay, `${id} (group ${group})`);
      c.close();
      await c.closed;
    }
  });

  it('refuses a wrong token and a group the token does not grant', async () => {
    const bad = new TestClient(url);
    await bad.opened();
    bad.send(hello('web2', 'app', 'not-the-right-token'));
    assert.equal((await bad.closed).code, CloseCodes.AUTH_FAILED);
    const wrongGroup = new TestClient(url);
    await wrongGroup.opened();
    wrongGroup.send(hello('web2', 'db'));
    assert.equal((await wrongGroup.closed).code, CloseCodes.AUTH_FORBIDDEN);
    assert.equal(registry.get('web2')?.connected ?? false, false);
  });

  it('rejects malformed, oversized, unknown and premature messages, counts them, and keeps serving the others', async () => {
    const good = await connected('db1', 'db');
    const cases: Array<[string | Buffer, number, boolean]> = [
      ['{not json', CloseCodes.MALFORMED, true],
      [JSON.stringify({ v: 1, type: 'launch-missiles', id: 'x', ts: 1 }), CloseCodes.UNKNOWN_TYPE, true],
      [JSON.stringify({ v: 1, type: 'ack', id: 'x', ts: 1 }), CloseCodes.INVALID, true],
      [JSON.stringify({ v: 2, type: 'pong', id: 'x', ts: 1 }), CloseCodes.VERSION, true],
      ['x'.repeat(MAX_MESSAGE_BYTES + 10), CloseCodes.TOO_LARGE, true],
      [JSON.stringify({ v: 1, type: 'pong', id: 'x', ts: 1 }), CloseCodes.UNEXPECTED, false],
    ];
    const before = agentServer.rejections.total();
    for (const [raw, code, afterHello] of cases) {
      const c = new TestClient(url);
      await c.opened();
      if (afterHello) {
        c.send(hello('web2', 'app'));
        await c.waitFor('state');
      }
      c.sendRaw(raw);
      const closed = await c.closed;
      assert.equal(closed.code, code, `expected close ${code} for ${String(raw).slice(0, 40)}`);
    }
    assert.equal(agentServer.rejections.total() - before, cases.length);
    // the well-behaved agent is still connected and still gets pushes
    hub.publishVars({ 'ups.status': 'OL CHRG', 'battery.charge': '91' });
    agentServer.broadcastState(hub.snapshot(), policy);
    const states = await good.waitFor('state', 2);
    assert.equal(states.at(-1)!.vars['ups.status'], 'OL CHRG');
    good.close();
    await good.closed;
  });

  it('routes acks to the sequencer and replaces an older connection of the same agent', async () => {
    const first = await connected('web1', 'app');
    const second = await connected('web1', 'app');
    assert.equal((await first.closed).code, CloseCodes.REPLACED);
    second.send({ type: 'ack', orderId: 'order-1' });
    for (let i = 0; i < 100 && acks.length === 0; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(acks, ['web1:order-1']);
    assert.equal(registry.get('web1')?.connected, true);
    second.close();
    await second.closed;
  });
});
