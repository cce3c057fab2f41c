import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runAgent } from '../../../agent/run-agent.js';
import type { AgentSettings } from '../../../shared/config/agent-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import { FakeMaster } from './fake-master.js';

test('runAgent connects, and returns once stopped (graceful close 1000)', async () => {
  const master = await FakeMaster.start();
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-run-agent-'));
  const settings: AgentSettings = {
    file: join(dir, 'agent.yaml'),
    id: 'web-2',
    group: 'app',
    token: 'agent-token-0123456789',
    stateDir: dir,
    masterUrls: [master.url],
    masterAuto: false,
    masterTls: { fingerprints: [] },
    deadtimeMs: 15_000,
    reconnect: { initialMs: 10, maxMs: 40 },
    shutdown: { command: ['true'], dryRun: true, marker: join(dir, 'marker') },
    hooks: [],
    notify: { timeoutMs: 1_000 },
    log: { level: 'silent' },
  };
  const abort = new AbortController();
  const done = runAgent(settings, { signal: abort.signal, logger: silentLogger() });
  await master.untilConnections(1);
  abort.abort();
  await done;
  await master.until(() => master.closes.length === 1, 'close seen');
  assert.equal(master.closes[0]?.code, 1000);
  assert.equal(process.listenerCount('SIGTERM'), 0);
  await master.close();
});
