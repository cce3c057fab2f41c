/**
 * Issue 10, "a partition that heals in time still shuts hosts down": on battery with the master lost, a
 * failed attempt followed by a long random backoff pick outlived both the partition and the deadtime, and
 * the agent went down although the master was back. The agent now never waits past its deadline and makes
 * one last attempt right before it; a welcome on it cancels the shutdown. Real sockets, a manual clock.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../../agent/agent.js';
import { ManualClock } from '../../../shared/clock.js';
import type { AgentSettings } from '../../../shared/config/agent-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import type { WelcomeMsg } from '../../../shared/protocol/messages.js';
import { FakeMaster } from './fake-master.js';

const welcome: Omit<WelcomeMsg, 'v' | 'id' | 'ts'> = {
  type: 'welcome',
  masterId: 'ups-server',
  ups: ['su700'],
  group: 'app',
  step: 1,
  steps: 1,
  pingIntervalMs: 600_000,
};

function settingsFor(dir: string, url: string): AgentSettings {
  return {
    file: join(dir, 'agent.yaml'),
    id: 'app-1',
    group: 'app',
    token: 'agent-token-0123456789',
    stateDir: join(dir, 'state'),
    masterUrls: [url],
    masterAuto: false,
    masterTls: { fingerprints: [] },
    deadtimeMs: 45_000,
    // the defaults: the race is in them
    reconnect: { initialMs: 500, maxMs: 30_000 },
    shutdown: { command: ['false'], dryRun: true, marker: join(dir, 'state', 'app-1.poweroff') },
    hooks: [],
    notify: { timeoutMs: 2_000 },
    log: { level: 'silent' },
  };
}

const realTick = () => new Promise<void>((r) => setTimeout(r, 3));

test('on battery, master back at 32 s of a 45 s deadtime while the backoff would sleep to 61 s: the last attempt wins', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-agent-rd-'));
  let master = await FakeMaster.start();
  const port = (master.wss.address() as AddressInfo).port;
  const settings = settingsFor(dir, master.url);
  const clock = new ManualClock(Date.now());
  let attempts = 0;
  // every pick at the top of its range: 0.5, 1, 2, 4, 8, 16 s, then 30 s from 31.5 s, past the deadline
  const agent = new Agent(settings, {
    logger: silentLogger(),
    clock,
    random: () => {
      attempts++;
      return 0.999;
    },
  });
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
    vars: { 'ups.status': 'OB DISCHRG' },
    stale: false,
    policy: { critical: false, reason: null, onBatterySince: 0, communicating: true },
  });
  await master.until(() => agent.state.size > 0, 'state');
  const cutAt = clock.now();
  await master.close(); // the link is cut: nothing answers at the master's address
  await master.until(() => !agent.connected, 'agent noticed');

  let back = false;
  for (let elapsed = 0; elapsed <= 51_000 && agent.connects < 2; elapsed += 100) {
    clock.advance(100);
    await realTick();
    if (!back && clock.now() - cutAt >= 32_000) {
      // the partition heals just after the agent's attempt at 31.5 s failed
      master = await FakeMaster.start(port);
      const m = master;
      m.wss.on('connection', (ws) =>
        ws.on('message', (data) => {
          if (String(data).includes('"hello"')) m.send(welcome, ws);
        }),
      );
      back = true;
    }
  }
  await master.until(() => agent.connected && agent.welcome !== null, 'reconnected');
  const at = clock.now() - cutAt;
  assert.ok(at >= 45_000 && at <= 45_500, `reconnected by the last attempt at the deadline (${at} ms)`);
  // past the last attempt's bound: still up
  for (let k = 0; k < 100; k++) {
    clock.advance(100);
    await realTick();
  }
  await agent.orders.idle();
  assert.equal(existsSync(settings.shutdown.marker), false, 'no local shutdown');
  assert.ok(attempts >= 6, `the backoff really was at its long picks (${attempts} picks)`);
});
