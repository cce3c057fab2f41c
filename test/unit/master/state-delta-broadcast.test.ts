/**
 * State deltas on the agent server (real ws on 127.0.0.1): an agent announcing `state-delta` gets one full
 * state with its revision after the welcome, then only `state-delta` messages, which rebuild exactly the
 * full states an agent without the capability gets (that one never sees a delta); with and without `seq`
 * (the delta frame is shared and numbered per connection). A resync is answered with the latest full state
 * and deltas go on from it; an agent that connected while the state had moved on since the last broadcast
 * gets a full state at the next one; an agent without the capability may not ask for a resync.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { AgentServer } from '../../../master/servers/agent-server.js';
import { HttpServer } from '../../../master/servers/http-server.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { hashToken } from '../../../shared/auth/token.js';
import { systemClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import {
  CloseCodes,
  type MasterMsg,
  type PolicyViewT,
  type StateMsg,
} from '../../../shared/protocol/messages.js';
import { StateFollower } from '../../../shared/protocol/state-delta.js';
import { TestClient } from '../../support/ws-client.js';

const TOKENS = {
  delta1: 'token-delta1-xxxxxxxx',
  delta2: 'token-delta2-xxxxxxxx',
  late: 'token-late-xxxxxxxxxx',
  old1: 'token-old1-xxxxxxxxxx',
};

const contentOf = (s: StateMsg) =>
  JSON.stringify({ ups: s.ups, vars: s.vars, stale: s.stale, policy: s.policy });

/** The state pictures a delta agent ends up with, one per state message (full or rebuilt). */
function rebuilt(messages: MasterMsg[]): StateMsg[] {
  const f = new StateFollower();
  const out: StateMsg[] = [];
  for (const m of messages) {
    if (m.type === 'state') {
      f.onState(m);
      out.push(m);
    } else if (m.type === 'state-delta') {
      const r = f.onDelta(m);
      assert.equal(r.kind, 'state', r.kind === 'gap' ? r.why : '');
      if (r.kind === 'state') out.push(r.state);
    }
  }
  return out;
}

describe('state deltas from the agent server', () => {
  const hub = new StateHub('su700', systemClock);
  let policy: PolicyViewT = { critical: false, reason: null, onBatterySince: null, communicating: true };
  const agentServer = new AgentServer({
    masterId: 'm1',
    agents: Object.entries(TOKENS).map(([id, t]) => ({ id, group: 'app', tokenHash: hashToken(t) })),
    registry: new FleetRegistry(),
    clock: systemClock,
    logger: silentLogger(),
    pingIntervalMs: 60_000,
    snapshot: () => ({ hub: hub.snapshot(), policy }),
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
    status: () => ({}),
    admin: { simulate: async () => {}, fsd: async () => {}, drill: async () => undefined },
  });
  let url = '';
  const clients: TestClient[] = [];
  const conns = new Map<string, { c: TestClient; send: (body: Record<string, unknown>) => void }>();

  before(async () => {
    url = `ws://127.0.0.1:${(await http.start()).port}/ws`;
  });
  after(async () => {
    for (const c of clients) c.close();
    await agentServer.stop();
    await http.stop();
  });

  async function connect(id: keyof typeof TOKENS, capabilities: string[]) {
    const c = new TestClient(url);
    clients.push(c);
    await c.opened();
    const send = (body: Record<string, unknown>) => c.send(body);
    send({
      type: 'hello',
      agentId: id,
      group: 'app',
      version: 'test',
      capabilities,
      token: TOKENS[id],
      dryRun: true,
    });
    await c.waitFor('state');
    conns.set(id, { c, send });
    return { c, send };
  }

  const vars: Record<string, string> = {
    'ups.status': 'OL CHRG',
    'battery.charge': '100',
    'battery.runtime': '1800',
    'input.voltage': '230',
    'device.model': 'SU700',
  };
  const broadcast = () => agentServer.broadcastState(hub.snapshot(), policy);
  const count = (c: TestClient, type: string) => c.messages.filter((m) => m.type === type).length;

  it('delta agents get one full state, then deltas rebuilding exactly what a full-state agent gets', async () => {
    hub.publishVars(vars);
    const d1 = await connect('delta1', ['seq', 'state-delta']);
    const d2 = await connect('delta2', ['state-delta']);
    const old = await connect('old1', ['seq']);
    const first = (await d1.c.waitFor('state'))[0]!;
    assert.equal(first.rev, 0);
    assert.equal(
      (await old.c.waitFor('state'))[0]!.rev,
      undefined,
      'no revision to an agent without the capability',
    );
    // a timeline: one variable at a time, a removal and its return, stale and policy flips
    const rounds: Array<() => void> = [
      () => (vars['battery.charge'] = '99'),
      () => (vars['ups.status'] = 'OB DISCHRG'),
      () => (vars['ups.alarm'] = 'Replace battery!'),
      () => (vars['input.voltage'] = '0'),
      () => delete vars['ups.alarm'],
      () => (policy = { ...policy, onBatterySince: 1_700_000_000_000 }),
      () => hub.publishComm(false, 'scripted'),
      () => hub.publishComm(true, 'back'),
      () => {
        vars['battery.charge'] = '20';
        vars['battery.runtime'] = '240';
        vars['ups.status'] = 'OB DISCHRG LB';
        policy = { ...policy, critical: true, reason: 'OB LB' };
      },
      () => delete vars['device.model'],
      () => {}, // a broadcast that changes nothing
    ];
    for (const r of rounds) {
      r();
      hub.publishVars({ ...vars });
      broadcast();
    }
    const n = 1 + rounds.length;
    await old.c.waitFor('state', n);
    await d1.c.waitFor('state-delta', rounds.length);
    await d2.c.waitFor('state-delta', rounds.length);
    for (const d of [d1, d2]) {
      assert.deepEqual(d.c.invalid, []);
      assert.equal(count(d.c, 'state'), 1, 'one full state, after the welcome');
      assert.equal(count(d.c, 'state-delta'), rounds.length);
      assert.deepEqual(
        rebuilt(d.c.messages).map(contentOf),
        (old.c.messages.filter((m) => m.type === 'state') as StateMsg[]).map(contentOf),
      );
    }
    assert.equal(count(old.c, 'state-delta'), 0, 'never a delta to an agent without the capability');
    // the delta of one changed variable carries that variable only
    const deltas = d2.c.messages.filter((m) => m.type === 'state-delta');
    assert.deepEqual(deltas[0], { ...deltas[0], set: { 'battery.charge': '99' } });
    assert.equal('unset' in deltas[0]! || 'stale' in deltas[0]! || 'policy' in deltas[0]!, false);
    assert.deepEqual(deltas[4]!.unset, ['ups.alarm']);
    assert.equal(deltas[6]!.stale, true);
    assert.equal(deltas.at(-1)!.set, undefined);
    // and is much smaller on the wire
    const fullText = old.c.texts.filter((t) => t.includes('"type":"state"'))[1]!;
    const deltaText = d2.c.texts.filter((t) => t.includes('"type":"state-delta"'))[0]!;
    assert.ok(
      Buffer.byteLength(deltaText) * 2 < Buffer.byteLength(fullText),
      `${Buffer.byteLength(deltaText)} vs ${Buffer.byteLength(fullText)} bytes`,
    );
  });

  it('answers a resync with the latest full state, and deltas go on from it', async () => {
    const { c: d1, send } = conns.get('delta1')!;
    const before = count(d1, 'state');
    const resyncsBefore = agentServer.resyncs;
    send({ type: 'resync', ups: 'su700', have: 3 });
    await d1.waitFor('state', before + 1);
    assert.equal(agentServer.resyncs, resyncsBefore + 1);
    const full = (d1.messages.filter((m) => m.type === 'state') as StateMsg[]).at(-1)!;
    const olds = conns.get('old1')!.c.messages.filter((m) => m.type === 'state') as StateMsg[];
    assert.equal(contentOf(full), contentOf(olds.at(-1)!));
    vars['battery.charge'] = '19';
    hub.publishVars({ ...vars });
    broadcast();
    const deltas = await d1.waitFor('state-delta', 12);
    assert.equal(deltas.at(-1)!.base, full.rev);
    assert.deepEqual(deltas.at(-1)!.set, { 'battery.charge': '19' });
  });

  it('gives a full state at the next broadcast to an agent whose connect snapshot had moved on', async () => {
    // the policy changes without a broadcast (the hub did not change): the connect snapshot is no revision
    policy = { ...policy, reason: 'OB LB (debounced)' };
    const late = await connect('late', ['state-delta']);
    const d2 = conns.get('delta2')!.c;
    const deltasBefore = count(d2, 'state-delta');
    vars['battery.charge'] = '18';
    hub.publishVars({ ...vars });
    broadcast();
    await late.c.waitFor('state', 2);
    await d2.waitFor('state-delta', deltasBefore + 1);
    assert.equal(count(late.c, 'state-delta'), 0);
    vars['battery.charge'] = '17';
    hub.publishVars({ ...vars });
    broadcast();
    const [delta] = await late.c.waitFor('state-delta');
    assert.deepEqual(delta!.set, { 'battery.charge': '17' });
    // 1 + 11 + 1 + 2 broadcasts so far: the last full state the agent without the capability got
    const olds = await conns.get('old1')!.c.waitFor('state', 15);
    assert.equal(contentOf(rebuilt(late.c.messages).at(-1)!), contentOf(olds.at(-1)!));
  });

  it('refuses a resync from an agent without the capability', async () => {
    const { c: old, send } = conns.get('old1')!;
    send({ type: 'resync', ups: 'su700', have: null });
    const closed = await old.closed;
    assert.equal(closed.code, CloseCodes.UNEXPECTED);
  });
});
