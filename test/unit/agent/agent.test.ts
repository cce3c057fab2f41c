import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { Agent } from '../../../agent/agent.js';
import { ManualClock } from '../../../shared/clock.js';
import type { AgentSettings } from '../../../shared/config/agent-settings.js';
import type { HookSpec } from '../../../shared/config/resolved.js';
import type { PowerOffMarker } from '../../../shared/exec/power-off.js';
import { silentLogger } from '../../../shared/logger.js';
import type { AgentMsg, HelloMsg, OrderMsg, WelcomeMsg } from '../../../shared/protocol/messages.js';
import { FakeMaster } from './fake-master.js';

interface Fixture {
  dir: string;
  hookLog: string;
  forbidden: string;
  marker: string;
  settings: AgentSettings;
}

function fixture(url: string, hooks?: (hookLog: string) => HookSpec[]): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-agent-'));
  const hookLog = join(dir, 'hooks.log');
  const forbidden = join(dir, 'SOMEFILE');
  const marker = join(dir, 'state', 'web-1.poweroff');
  const settings: AgentSettings = {
    file: join(dir, 'agent.yaml'),
    id: 'web-1',
    group: 'app',
    token: 'agent-token-0123456789',
    stateDir: join(dir, 'state'),
    masterUrls: [url],
    masterAuto: false,
    masterTls: { fingerprints: [] },
    deadtimeMs: 15_000,
    reconnect: { initialMs: 10, maxMs: 40 },
    shutdown: { command: ['sh', '-c', `touch ${forbidden}`], dryRun: true, marker },
    hooks: hooks?.(hookLog) ?? [
      { name: 'flush-db', run: `echo flush-db >> ${hookLog}`, timeoutMs: 5_000, drillSafe: false },
    ],
    notify: { timeoutMs: 2_000 },
    log: { level: 'silent' },
  };
  return { dir, hookLog, forbidden, marker, settings };
}

const welcome: Omit<WelcomeMsg, 'v' | 'id' | 'ts'> = {
  type: 'welcome',
  masterId: 'master-1',
  ups: ['su700'],
  group: 'app',
  step: 1,
  steps: 3,
  pingIntervalMs: 60_000,
};

const order: Omit<OrderMsg, 'v' | 'id' | 'ts'> = {
  type: 'order',
  orderId: 'order-42',
  action: 'shutdown',
  reason: 'UPS su700 critical: OB LB',
  deadline: Date.now() + 180_000,
  step: 1,
  drill: false,
};

function types(msgs: AgentMsg[]): string[] {
  return msgs.map((m) => (m.type === 'progress' ? `progress:${m.status}` : m.type));
}

async function startAgent(
  t: { after(fn: () => Promise<void> | void): void },
  hooks?: (hookLog: string) => HookSpec[],
) {
  const master = await FakeMaster.start();
  const fx = fixture(master.url, hooks);
  // random 0: reconnect at once; the backoff itself is tested on its own
  const agent = new Agent(fx.settings, {
    logger: silentLogger(),
    random: () => 0,
    hostname: 'web-1.example',
  });
  t.after(async () => {
    await agent.stop();
    await master.close();
  });
  agent.start();
  const ws = await master.untilConnections(1);
  return { master, agent, fx, ws };
}

test('hello carries the agent identity, then welcome and state are kept, and ping is answered', async (t) => {
  const { master, agent } = await startAgent(t);
  const hello = master.messages(0)[0] as HelloMsg;
  assert.equal(hello.type, 'hello');
  assert.equal(hello.v, 1);
  assert.deepEqual(
    { ...hello, id: undefined, ts: undefined, version: undefined },
    {
      v: 1,
      type: 'hello',
      id: undefined,
      ts: undefined,
      agentId: 'web-1',
      group: 'app',
      version: undefined,
      capabilities: [
        'order',
        'progress',
        'drill',
        'dry-run',
        'notify',
        'local-safety',
        'relative-deadline',
        'guest-progress',
        'seq',
        'reconnect-window',
        'state-delta',
      ],
      token: 'agent-token-0123456789',
      dryRun: true,
      hostname: 'web-1.example',
    },
  );
  assert.match(hello.version, /^\d+\.\d+\.\d+/);
  assert.equal(agent.connected, true);

  master.send(welcome);
  master.send({
    type: 'state',
    ups: 'su700',
    vars: { 'ups.status': 'OL CHRG', 'battery.charge': '100' },
    stale: false,
    policy: { critical: false, reason: null, onBatterySince: null, communicating: true },
  });
  master.send({ type: 'ping' });
  await master.until(() => master.messages(0).some((m) => m.type === 'pong'), 'pong');
  assert.equal(agent.welcome?.masterId, 'master-1');
  assert.equal(agent.state.get('su700')?.vars['ups.status'], 'OL CHRG');
  assert.ok(agent.lastContact !== null);
});

test('order: ack, progress, going-down (dry-run) in order, a marker, and no power-off command', async (t) => {
  const { master, agent, fx } = await startAgent(t);
  master.send(welcome);
  master.send(order);
  await master.until(() => master.messages(0).some((m) => m.type === 'going-down'), 'going-down');
  await agent.orders.idle();

  const sent = master.messages(0).filter((m) => m.type !== 'hello');
  assert.deepEqual(types(sent), ['ack', 'progress:started', 'progress:ok', 'going-down']);
  for (const m of sent) assert.equal('orderId' in m && m.orderId, 'order-42');
  const progress = sent.filter((m) => m.type === 'progress');
  assert.deepEqual(
    progress.map((p) => [p.hook, p.of, p.name]),
    [
      [1, 1, 'flush-db'],
      [1, 1, 'flush-db'],
    ],
  );
  const goingDown = sent.at(-1);
  assert.deepEqual(
    goingDown?.type === 'going-down' && { dryRun: goingDown.dryRun, hookFailures: goingDown.hookFailures },
    {
      dryRun: true,
      hookFailures: 0,
    },
  );

  const marker = JSON.parse(readFileSync(fx.marker, 'utf8')) as PowerOffMarker;
  assert.equal(marker.id, 'web-1');
  assert.equal(marker.orderId, 'order-42');
  assert.equal(marker.reason, 'UPS su700 critical: OB LB');
  assert.equal(typeof marker.orderReceivedAt, 'number');
  assert.ok(marker.orderReceivedAt! <= marker.ts, 'the order arrived before the would-be power-off');
  assert.equal(existsSync(fx.forbidden), false, 'the power-off command never ran');
  assert.equal(readFileSync(fx.hookLog, 'utf8'), 'flush-db\n');
  // dry-run: the agent stays up and connected
  assert.equal(agent.connected, true);

  // the master drops the link, the agent reconnects, and the master re-sends the same order
  master.current.terminate();
  await master.untilConnections(2);
  master.send(welcome);
  master.send(order);
  await master.until(() => master.messages(1).some((m) => m.type === 'going-down'), 'going-down replayed');
  await agent.orders.idle();
  assert.deepEqual(types(master.messages(1)), ['hello', 'ack', 'progress:ok', 'going-down']);
  assert.equal(readFileSync(fx.hookLog, 'utf8'), 'flush-db\n', 'hooks did not run a second time');
});

test('drill: only drill-safe hooks, going-down (dry-run) then drill-report, no marker', async (t) => {
  const { master, agent, fx } = await startAgent(t, (hookLog) => [
    { name: 'stop-vms', run: `echo stop-vms >> ${hookLog}`, timeoutMs: 5_000, drillSafe: false },
    { name: 'announce', run: `echo announce >> ${hookLog}`, timeoutMs: 5_000, drillSafe: true },
  ]);
  master.send(welcome);
  master.send({ ...order, orderId: 'drill-1', drill: true });
  await master.until(() => master.messages(0).some((m) => m.type === 'drill-report'), 'drill-report');
  await agent.orders.idle();
  assert.deepEqual(types(master.messages(0)), [
    'hello',
    'ack',
    'progress:skipped',
    'progress:started',
    'progress:ok',
    'going-down',
    'drill-report',
  ]);
  const report = master.messages(0).at(-1);
  assert.deepEqual(report?.type === 'drill-report' && report.hooks.map((h) => [h.name, h.status]), [
    ['stop-vms', 'skipped'],
    ['announce', 'ok'],
  ]);
  assert.equal(readFileSync(fx.hookLog, 'utf8'), 'announce\n');
  assert.equal(existsSync(fx.marker), false);
  assert.equal(existsSync(fx.forbidden), false);
});

test('an invalid message from the master is counted, closes the link with its code, and the agent reconnects', async (t) => {
  const { master, agent } = await startAgent(t);
  master.sendRaw(JSON.stringify({ v: 1, type: 'order', id: 'x', ts: 1, orderId: 'o' })); // fields missing
  await master.untilConnections(2);
  assert.equal(agent.invalidMessages, 1);
  assert.equal(master.closes[0]?.code, 4003);
  master.sendRaw('not json');
  await master.untilConnections(3);
  assert.equal(agent.invalidMessages, 2);
  assert.equal(master.closes[1]?.code, 4000);
});

test('a refused token (4010) is logged and retried at the slowest pace', async (t) => {
  const master = await FakeMaster.start();
  const fx = fixture(master.url);
  const clock = new ManualClock(Date.now());
  let constructed = 0;
  class CountingWebSocket extends WebSocket {
    constructor(address: string, options?: WebSocket.ClientOptions) {
      super(address, options);
      constructed++;
    }
  }
  const logged: { level: number; msg: string }[] = [];
  const logger = (await import('pino')).pino(
    { level: 'info' },
    { write: (line: string) => logged.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  const agent = new Agent(fx.settings, { logger, clock, random: () => 0, WebSocket: CountingWebSocket });
  t.after(async () => {
    await agent.stop();
    await master.close();
  });
  agent.start();
  await master.untilConnections(1);
  master.current.close(4010, 'token refused');
  await master.until(() => logged.some((l) => /refused this agent's token/.test(l.msg)), 'auth error logged');
  assert.equal(constructed, 1);
  clock.advance(fx.settings.reconnect.maxMs - 1);
  assert.equal(constructed, 1, 'no retry before the max backoff');
  clock.advance(1);
  assert.equal(constructed, 2);
  await master.untilConnections(2);
  const line = logged.find((l) => /refused this agent's token/.test(l.msg));
  assert.equal(line?.level, 50);
  assert.ok(!JSON.stringify(logged).includes('agent-token-0123456789'), 'the token never appears in a log');
});

test('local safety: master gone for longer than deadtime while OB: the agent shuts down on its own', async (t) => {
  const master = await FakeMaster.start();
  const fx = fixture(master.url);
  const clock = new ManualClock(Date.now());
  const agent = new Agent(fx.settings, { logger: silentLogger(), clock, random: () => 0.5 });
  t.after(async () => {
    await agent.stop();
  });
  agent.start();
  await master.untilConnections(1);
  master.send(welcome);
  master.send({
    type: 'state',
    ups: 'su700',
    vars: { 'ups.status': 'OB DISCHRG' },
    stale: false,
    policy: { critical: false, reason: null, onBatterySince: 0, communicating: true },
  });
  await new Promise<void>((resolve) => {
    const check = () => (agent.state.size > 0 ? resolve() : setImmediate(check));
    check();
  });
  await master.close(); // the master host vanished
  await master.until(() => !agent.connected, 'agent noticed');
  clock.advance(fx.settings.deadtimeMs);
  // one last attempt first: it fails (nobody listens), then the agent goes down
  await master.until(() => existsSync(fx.marker), 'the last attempt failed');
  await agent.orders.idle();
  const marker = JSON.parse(readFileSync(fx.marker, 'utf8')) as PowerOffMarker;
  assert.equal(marker.reason, 'master unreachable for 15s while on battery');
  assert.equal(marker.orderId, null);
  assert.equal(readFileSync(fx.hookLog, 'utf8'), 'flush-db\n');
  assert.equal(existsSync(fx.forbidden), false);
});

test('real mode (harmless command): the agent closes the link with 1001 once the power-off started, and stays away', async (t) => {
  const master = await FakeMaster.start();
  const fx = fixture(master.url);
  const ran = join(fx.dir, 'POWERED-OFF');
  fx.settings.shutdown = {
    command: ['sh', '-c', `echo powered-off > ${ran}`],
    dryRun: false,
    marker: fx.marker,
  };
  const clock = new ManualClock(Date.now());
  let constructed = 0;
  class CountingWebSocket extends WebSocket {
    constructor(address: string, options?: WebSocket.ClientOptions) {
      super(address, options);
      constructed++;
    }
  }
  const agent = new Agent(fx.settings, {
    logger: silentLogger(),
    clock,
    random: () => 0,
    WebSocket: CountingWebSocket,
  });
  t.after(async () => {
    await agent.stop();
    await master.close();
  });
  agent.start();
  await master.untilConnections(1);
  master.send(welcome);
  master.send(order);
  await master.until(() => master.closes.length === 1, 'agent closed the link');
  await agent.orders.idle();
  assert.deepEqual(master.closes[0], { conn: 0, code: 1001, reason: 'powering off' });
  assert.deepEqual(types(master.messages(0)), [
    'hello',
    'ack',
    'progress:started',
    'progress:ok',
    'going-down',
  ]);
  assert.equal(readFileSync(ran, 'utf8'), 'powered-off\n');
  assert.equal(existsSync(fx.marker), false);
  assert.equal(agent.connected, false);
  clock.advance(60_000);
  assert.equal(constructed, 1, 'no reconnect while the OS goes down');
});

test('each event runs the notify command with the last known state of its UPS', async (t) => {
  const master = await FakeMaster.start();
  const fx = fixture(master.url);
  const out = join(fx.dir, 'notify.out');
  fx.settings.notify = {
    command: `echo "$UPSFLEET_EVENT $UPSFLEET_UPS $UPSFLEET_STATUS $UPSFLEET_CHARGE $UPSFLEET_AGENT_ID" >> ${out}`,
    timeoutMs: 2_000,
  };
  const agent = new Agent(fx.settings, { logger: silentLogger(), random: () => 0 });
  t.after(async () => {
    await agent.stop();
    await master.close();
  });
  agent.start();
  await master.untilConnections(1);
  master.send(welcome);
  master.send({
    type: 'state',
    ups: 'su700',
    vars: { 'ups.status': 'OB DISCHRG', 'battery.charge': '91' },
    stale: false,
    policy: { critical: false, reason: null, onBatterySince: 0, communicating: true },
  });
  master.send({ type: 'event', ups: 'su700', event: 'ONBATT', message: 'UPS su700 on battery' });
  await master.until(() => existsSync(out) && readFileSync(out, 'utf8').includes('\n'), 'notify ran');
  assert.equal(readFileSync(out, 'utf8'), 'ONBATT su700 OB DISCHRG 91 web-1\n');
});
