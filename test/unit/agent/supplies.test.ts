/**
 * The agent's count of redundant supplies (NUT's MINSUPPLIES), on a fake clock: each supply's local
 * deadtime (agent/local-safety.ts) loses only that supply, a master gone while its UPS was last seen on
 * line still counts, an order is obeyed only when the other supplies alone are short, a declined order is
 * obeyed later if they run short, and the host goes down on its own only when no master is left to order it.
 * Then the whole agent against two real WebSocket masters: hello declares the supplies, a decline answers
 * the order, and an older master that refuses the new hello field is followed without it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Agent } from '../../../agent/agent.js';
import { LocalSafety } from '../../../agent/local-safety.js';
import { Supplies } from '../../../agent/supplies.js';
import { ManualClock } from '../../../shared/clock.js';
import type { AgentSettings } from '../../../shared/config/agent-settings.js';
import type { PowerOffMarker } from '../../../shared/exec/power-off.js';
import { silentLogger } from '../../../shared/logger.js';
import { envelop } from '../../../shared/protocol/codec.js';
import type { AgentMsg, OrderMsg, StateMsg, SupplyDeclarationT } from '../../../shared/protocol/messages.js';
import { FakeMaster } from './fake-master.js';

const DEADTIME = 15_000;

function state(status: string, critical = false): Pick<StateMsg, 'vars' | 'policy'> {
  return {
    vars: { 'ups.status': status },
    policy: { critical, reason: critical ? status : null, onBatterySince: null, communicating: true },
  };
}

function order(id: string, drill = false): OrderMsg {
  return envelop<OrderMsg>({
    type: 'order',
    orderId: id,
    action: 'shutdown',
    reason: 'OB LB',
    deadline: Date.now() + 60_000,
    step: 1,
    drill,
  });
}

/** Supplies wired to one LocalSafety per supply, as the agent wires them. */
function host(powerValues: number[], minSupplies: number) {
  const clock = new ManualClock();
  const obeyed: Array<{ index: number; orderId: string }> = [];
  const local: string[] = [];
  const reports: Array<{ index: number; d: SupplyDeclarationT }> = [];
  let down = false;
  const supplies = new Supplies({
    supplies: powerValues.map((powerValue, i) => ({ name: `ups-${'abc'[i]}`, powerValue })),
    minSupplies,
    logger: silentLogger(),
    isDown: () => down,
    obey: (index, o) => {
      down = true;
      obeyed.push({ index, orderId: o.orderId });
    },
    shutdownLocally: (reason) => {
      down = true;
      local.push(reason);
    },
    report: (index, d) => reports.push({ index, d }),
  });
  const safety = powerValues.map(
    (_, i) =>
      new LocalSafety({
        deadtimeMs: DEADTIME,
        clock,
        logger: silentLogger(),
        onShutdown: (reason) => supplies.gone(i, reason),
        ...(powerValues.length > 1 ? { supply: `ups-${'abc'[i]}` } : {}),
      }),
  );
  const see = (i: number, status: string, critical = false) => {
    safety[i]!.observeStatus('ups', status);
    supplies.observeState(i, state(status, critical));
  };
  const connect = (i: number) => {
    safety[i]!.masterReachable();
    safety[i]!.rearm();
    supplies.connected(i);
  };
  const lose = (i: number) => {
    supplies.disconnected(i);
    safety[i]!.masterUnreachable(clock.now());
  };
  const decide = (i: number, o: OrderMsg) => {
    const d = supplies.order(i, o);
    if (d.obey) {
      down = true;
      obeyed.push({ index: i, orderId: o.orderId });
    }
    return d;
  };
  return { clock, supplies, obeyed, local, reports, see, connect, lose, decide };
}

describe('agent: counting redundant supplies', () => {
  it('declines an order while the other supply feeds it; obeys it once that one is lost on battery', () => {
    const h = host([1, 1], 1);
    h.connect(0);
    h.connect(1);
    h.see(0, 'OL');
    h.see(1, 'OL');
    assert.equal(h.supplies.trusted(), 2);
    h.see(0, 'OB DISCHRG LB');
    assert.deepEqual(h.reports.at(-1), {
      index: 1,
      d: { powerValue: 1, minSupplies: 1, total: 2, others: 0 },
    });
    const d = h.decide(0, order('a:dual'));
    assert.equal(d.obey, false);
    assert.ok(!d.obey && /redundantly fed, not going down/.test(d.reason));
    assert.ok(!d.obey && d.declaration.others === 1);

    // master B vanishes while its UPS is on line: it still counts, however long it stays away
    h.lose(1);
    h.clock.advance(10 * DEADTIME);
    assert.equal(h.supplies.trusted(), 1);
    assert.deepEqual(h.obeyed, []);
    assert.deepEqual(h.local, []);

    // B back, then on battery, then gone: after its deadtime it is lost and A's declined order is obeyed
    h.connect(1);
    h.see(1, 'OB DISCHRG');
    h.lose(1);
    h.clock.advance(DEADTIME - 1);
    assert.deepEqual(h.obeyed, [], 'not before the deadtime');
    h.clock.advance(1);
    assert.deepEqual(h.obeyed, [{ index: 0, orderId: 'a:dual' }], "down at A's order, the one it declined");
    assert.deepEqual(h.local, []);
  });

  it('obeys at once when the other supplies alone are short', () => {
    const h = host([1, 1], 1);
    h.connect(0);
    h.connect(1);
    h.see(1, 'OB DISCHRG LB');
    const d = h.decide(0, order('a:dual'));
    assert.equal(d.obey, true);
  });

  it('with no order, waits for a critical master still connected; goes down on its own only when none is left', () => {
    const h = host([1, 1], 1);
    h.connect(0);
    h.connect(1);
    h.see(0, 'OB DISCHRG LB');
    h.see(1, 'OB DISCHRG');
    h.lose(1);
    h.clock.advance(DEADTIME);
    assert.equal(h.supplies.trusted(), 0);
    assert.deepEqual(h.local, [], 'A is connected and critical: it orders us at our step');
    h.lose(0);
    h.clock.advance(DEADTIME);
    assert.equal(h.local.length, 1);
    assert.match(h.local[0]!, /^supplies short: 0 of minSupplies 1 left/);
  });

  it('master B gone past its deadtime on battery while A is on line: still fed, stays up', () => {
    const h = host([1, 1], 1);
    h.connect(0);
    h.connect(1);
    h.see(0, 'OL');
    h.see(1, 'OB DISCHRG');
    h.lose(1);
    h.clock.advance(DEADTIME);
    assert.equal(h.supplies.trusted(), 1);
    assert.deepEqual(h.reports.at(-1), {
      index: 0,
      d: { powerValue: 1, minSupplies: 1, total: 2, others: 0 },
    });
    assert.deepEqual([h.local, h.obeyed], [[], []]);
    // A becomes critical and orders: nothing else feeds us now
    h.see(0, 'OB DISCHRG LB');
    assert.equal(h.decide(0, order('a:dual')).obey, true);
  });

  it('power values: a UPS feeding two of three supplies, minSupplies 2', () => {
    const h = host([2, 1], 2);
    h.connect(0);
    h.connect(1);
    h.see(1, 'OB LB');
    assert.equal(h.decide(0, order('a:x')).obey, true, 'B gives 1 < 2 without A');
    const g = host([2, 1], 2);
    g.connect(0);
    g.connect(1);
    g.see(0, 'OL');
    assert.equal(g.decide(1, order('b:x')).obey, false, 'A alone gives 2');
  });

  it('one supply: the local deadtime shuts down with its own reason, and orders are obeyed', () => {
    const h = host([1], 1);
    h.connect(0);
    h.see(0, 'OB DISCHRG');
    h.lose(0);
    h.clock.advance(DEADTIME);
    assert.deepEqual(h.local, ['master unreachable for 15s while on battery']);
    const g = host([1], 1);
    g.connect(0);
    assert.equal(g.decide(0, order('m:x')).obey, true);
  });

  it('a drill order is always carried out (a rehearsal powers nothing off)', () => {
    const h = host([1, 1], 1);
    h.connect(0);
    h.connect(1);
    assert.equal(h.decide(0, order('a:drill', true)).obey, true);
  });
});

function dualSettings(dir: string, a: string, b: string): AgentSettings {
  const supply = (name: string, url: string) => ({
    name,
    urls: [url],
    auto: false,
    tls: { fingerprints: [] },
    powerValue: 1,
    token: `token-of-${name}-0123`,
    stateDir: join(dir, 'state', 'supplies', name),
  });
  return {
    file: join(dir, 'agent.yaml'),
    id: 'dual',
    group: 'db',
    token: 'token-of-ups-a-0123',
    stateDir: join(dir, 'state'),
    masterUrls: [a],
    masterAuto: false,
    masterTls: { fingerprints: [] },
    deadtimeMs: DEADTIME,
    reconnect: { initialMs: 10, maxMs: 40 },
    shutdown: { command: ['false'], dryRun: true, marker: join(dir, 'state', 'dual.poweroff') },
    hooks: [],
    notify: { timeoutMs: 2_000 },
    log: { level: 'silent' },
    supplies: [supply('ups-a', a), supply('ups-b', b)],
    minSupplies: 1,
  };
}

const welcome = {
  type: 'welcome' as const,
  masterId: 'm',
  ups: ['ups'],
  group: 'db',
  step: 1,
  steps: 1,
  pingIntervalMs: 60_000,
};

function stateMsg(status: string, critical = false) {
  return { type: 'state' as const, ups: 'ups', stale: false, ...state(status, critical) };
}

const ofType = <T extends AgentMsg['type']>(m: FakeMaster, type: T) =>
  m.messages().filter((x): x is Extract<AgentMsg, { type: T }> => x.type === type);

describe('agent: two masters, one per UPS', () => {
  it('declares its supplies, declines while fed by the other UPS, goes down at that order once it is lost', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-supplies-'));
    const a = await FakeMaster.start();
    const b = await FakeMaster.start();
    const clock = new ManualClock(Date.now());
    const settings = dualSettings(dir, a.url, b.url);
    const agent = new Agent(settings, { logger: silentLogger(), clock, random: () => 0.5 });
    t.after(async () => {
      await agent.stop();
      await a.close();
      await b.close();
    });
    agent.start();
    await a.untilConnections(1);
    await b.untilConnections(1);
    const hello = ofType(a, 'hello')[0]!;
    assert.equal(hello.token, 'token-of-ups-a-0123', "each master gets its own supply's token");
    assert.deepEqual(hello.supplies, { powerValue: 1, minSupplies: 1, total: 2, others: 2 - 1 });
    a.send(welcome);
    b.send(welcome);
    a.send(stateMsg('OB DISCHRG LB', true));
    b.send(stateMsg('OB DISCHRG'));
    await b.until(() => ofType(b, 'supplies').length > 0, 'B told that A is lost');
    assert.equal(ofType(b, 'supplies').at(-1)!.supplies.others, 0);
    a.send({
      type: 'order',
      orderId: 'run:dual',
      action: 'shutdown',
      reason: 'OB LB',
      deadline: Date.now() + 60_000,
      step: 1,
      drill: false,
    });
    await a.until(() => ofType(a, 'decline').length > 0, 'the decline');
    const decline = ofType(a, 'decline')[0]!;
    assert.equal(decline.orderId, 'run:dual');
    assert.match(decline.reason, /redundantly fed, not going down/);
    assert.equal(ofType(a, 'ack').length, 0, 'no ack: the order is not carried out');

    await b.close(); // B's master dies while its UPS is on battery
    await b.until(() => agent.supplyView[1]!.connected === false, 'link B down');
    clock.advance(DEADTIME);
    await a.until(() => ofType(a, 'ack').length > 0, 'the declined order obeyed');
    await agent.orders.idle();
    const marker = JSON.parse(readFileSync(settings.shutdown.marker, 'utf8')) as PowerOffMarker;
    assert.equal(marker.orderId, 'run:dual', "down at A's order");
    assert.equal(ofType(a, 'going-down')[0]?.orderId, 'run:dual');
  });

  it('an older master that refuses the supplies hello is followed without it, and gets no decline', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-supplies-'));
    const a = await FakeMaster.start();
    const b = await FakeMaster.start();
    // an older master: its hello schema has no `supplies`, so it closes such a hello as invalid (4003)
    a.wss.on('connection', (ws) =>
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as Record<string, unknown>;
        if (msg.type === 'hello' && 'supplies' in msg)
          ws.close(4003, 'hello: / must NOT have additional properties');
      }),
    );
    const settings = dualSettings(dir, a.url, b.url);
    const agent = new Agent(settings, { logger: silentLogger(), random: () => 0 });
    t.after(async () => {
      await agent.stop();
      await a.close();
      await b.close();
    });
    agent.start();
    await a.untilConnections(2);
    const hellos = ofType(a, 'hello');
    assert.ok('supplies' in hellos[0]!, 'first hello declared the supplies');
    assert.equal(hellos.at(-1)!.supplies, undefined, 'the next one did not');
    await b.untilConnections(1);
    a.send(welcome);
    b.send(welcome);
    b.send(stateMsg('OL'));
    a.send(stateMsg('OB DISCHRG LB', true));
    a.send({
      type: 'order',
      orderId: 'old:dual',
      action: 'shutdown',
      reason: 'OB LB',
      deadline: Date.now() + 60_000,
      step: 1,
      drill: false,
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.messages().filter((m) => m.type === 'decline' || m.type === 'ack').length, 0);
    assert.equal(existsSync(settings.shutdown.marker), false, 'still up: UPS B feeds it');
    assert.equal(a.closes.filter((c) => c.code === 4003).length, 1, 'refused once only');
  });
});
