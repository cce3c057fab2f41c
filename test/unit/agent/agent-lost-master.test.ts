/**
 * The agent keeps its step's place when the master is lost while on battery: it waits its deadtime plus
 * the welcome's lostMasterDelayMs, saves that place in its stateDir, and restores it after a restart.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../../agent/agent.js';
import { LOST_MASTER_DELAY_FILE } from '../../../agent/lost-master-delay-store.js';
import { ManualClock } from '../../../shared/clock.js';
import type { AgentSettings } from '../../../shared/config/agent-settings.js';
import type { PowerOffMarker } from '../../../shared/exec/power-off.js';
import { silentLogger } from '../../../shared/logger.js';
import type { WelcomeMsg } from '../../../shared/protocol/messages.js';
import { FakeMaster } from './fake-master.js';

function settingsFor(dir: string, url: string): AgentSettings {
  return {
    file: join(dir, 'agent.yaml'),
    id: 'db-1',
    group: 'db',
    token: 'agent-token-0123456789',
    stateDir: join(dir, 'state'),
    masterUrls: [url],
    masterAuto: false,
    masterTls: { fingerprints: [] },
    deadtimeMs: 15_000,
    reconnect: { initialMs: 10, maxMs: 40 },
    shutdown: { command: ['false'], dryRun: true, marker: join(dir, 'state', 'db-1.poweroff') },
    hooks: [],
    notify: { timeoutMs: 2_000 },
    log: { level: 'silent' },
  };
}

const welcomeStep3: Omit<WelcomeMsg, 'v' | 'id' | 'ts'> = {
  type: 'welcome',
  masterId: 'ups-server',
  ups: ['su700'],
  group: 'db',
  step: 3,
  steps: 3,
  pingIntervalMs: 60_000,
  lostMasterDelayMs: 4_000,
};

function until(cond: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = () => (cond() ? resolve() : setImmediate(check));
    check();
  });
}

/** The master welcomes the agent at step 3 and says the UPS is on battery. */
async function welcomedOnBattery(master: FakeMaster, agent: Agent): Promise<void> {
  master.send(welcomeStep3);
  master.send({
    type: 'state',
    ups: 'su700',
    vars: { 'ups.status': 'OB DISCHRG' },
    stale: false,
    policy: { critical: false, reason: null, onBatterySince: 0, communicating: true },
  });
  await until(() => agent.state.size > 0);
}

test('step 3 waits deadtime + its delay before going down on its own, and saves its place', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-agent-lm-'));
  const master = await FakeMaster.start();
  const settings = settingsFor(dir, master.url);
  const clock = new ManualClock(Date.now());
  const agent = new Agent(settings, { logger: silentLogger(), clock, random: () => 0.5 });
  t.after(async () => {
    await agent.stop();
  });
  agent.start();
  await master.untilConnections(1);
  await welcomedOnBattery(master, agent);
  assert.equal(agent.effectiveDeadtimeMs, 19_000);
  const saved = JSON.parse(readFileSync(join(settings.stateDir, LOST_MASTER_DELAY_FILE), 'utf8')) as Record<
    string,
    unknown
  >;
  assert.deepEqual(
    { masterId: saved.masterId, group: saved.group, step: saved.step, steps: saved.steps },
    { masterId: 'ups-server', group: 'db', step: 3, steps: 3 },
  );
  assert.equal(saved.lostMasterDelayMs, 4_000);

  await master.close(); // the master host vanished
  await master.until(() => !agent.connected, 'agent noticed');
  clock.advance(settings.deadtimeMs);
  await agent.orders.idle();
  assert.equal(existsSync(settings.shutdown.marker), false, 'step 3 went down at the plain deadtime');
  clock.advance(4_000);
  // one last attempt first: it fails (nobody listens), then the agent goes down
  await master.until(() => existsSync(settings.shutdown.marker), 'the last attempt failed');
  await agent.orders.idle();
  const marker = JSON.parse(readFileSync(settings.shutdown.marker, 'utf8')) as PowerOffMarker;
  assert.equal(marker.reason, 'master unreachable for 19s while on battery');
});

test('restarted while the master is down: the saved place counts from start; an old master resets it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-agent-lm-'));
  const first = await FakeMaster.start();
  const gone = first.url;
  const before = new Agent(settingsFor(dir, gone), { logger: silentLogger(), random: () => 0 });
  before.start();
  await first.untilConnections(1);
  first.send(welcomeStep3);
  await until(() => before.welcome !== null);
  await before.stop();
  await first.close();

  // the master is gone (nothing listens at its URL any more); the agent restarts
  const restarted = new Agent(settingsFor(dir, gone), { logger: silentLogger(), random: () => 0 });
  t.after(async () => {
    await restarted.stop();
  });
  restarted.start();
  assert.equal(restarted.effectiveDeadtimeMs, 19_000);

  // a master that predates lostMasterDelayMs: back to the plain deadtime, saved as such
  const old = await FakeMaster.start();
  const oldWelcome: Omit<WelcomeMsg, 'v' | 'id' | 'ts'> = { ...welcomeStep3 };
  delete oldWelcome.lostMasterDelayMs;
  const again = new Agent(settingsFor(dir, old.url), { logger: silentLogger(), random: () => 0 });
  t.after(async () => {
    await again.stop();
    await old.close();
  });
  again.start();
  assert.equal(again.effectiveDeadtimeMs, 19_000);
  await old.untilConnections(1);
  old.send(oldWelcome);
  await until(() => again.welcome !== null);
  assert.equal(again.effectiveDeadtimeMs, 15_000);
  const saved = JSON.parse(readFileSync(join(dir, 'state', LOST_MASTER_DELAY_FILE), 'utf8')) as {
    lostMasterDelayMs: number;
  };
  assert.equal(saved.lostMasterDelayMs, 0);
});

test('a saved place of another group (the config moved the agent) is not used', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-agent-lm-'));
  const master = await FakeMaster.start();
  const gone = master.url;
  const before = new Agent(settingsFor(dir, gone), { logger: silentLogger(), random: () => 0 });
  before.start();
  await master.untilConnections(1);
  master.send(welcomeStep3);
  await until(() => before.welcome !== null);
  await before.stop();
  await master.close();

  const moved = new Agent({ ...settingsFor(dir, gone), group: 'app' }, { logger: silentLogger() });
  t.after(async () => {
    await moved.stop();
  });
  moved.start();
  assert.equal(moved.effectiveDeadtimeMs, 15_000);
});

test('a master that accepts the link but never welcomes does not push the local shutdown back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-agent-lm-'));
  const master = await FakeMaster.start();
  const settings = settingsFor(dir, master.url);
  const clock = new ManualClock(Date.now());
  const agent = new Agent(settings, { logger: silentLogger(), clock, random: () => 0.5 });
  t.after(async () => {
    await agent.stop();
    await master.close();
  });
  agent.start();
  await master.untilConnections(1);
  await welcomedOnBattery(master, agent);
  // from now on every link opens (TCP, WebSocket, hello) and is dropped without a welcome
  master.wss.on('connection', (ws) => ws.terminate());
  master.current.terminate();
  await master.until(() => !agent.connected, 'agent noticed');
  const step = async () => {
    clock.advance(500);
    await new Promise((r) => setTimeout(r, 20));
  };
  for (let i = 0; i < 20; i++) await step(); // 10 s of links opened and dropped
  assert.ok(
    master.connections.length >= 3,
    `the agent kept reconnecting (${master.connections.length} links)`,
  );
  // deadtime 15 s + step 3's 4 s from the last welcomed contact, then at most 5 s for the last attempt:
  // down by 24 s, not 19 s after the last link that merely opened
  for (let i = 0; i < 30 && !existsSync(settings.shutdown.marker); i++) await step();
  await agent.orders.idle();
  assert.ok(existsSync(settings.shutdown.marker), 'went down on time although links kept opening');
});
