import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runNotify } from '../../../shared/exec/notify.js';
import { silentLogger } from '../../../shared/logger.js';

test('the notify command sees the event in UPSFLEET_* (and NUT) environment variables', async () => {
  const result = await runNotify(
    {
      command: 'env | grep -E "^(UPSFLEET_|NOTIFYTYPE=|UPSNAME=)" | sort',
      timeoutMs: 2_000,
      agentId: 'web-1',
      group: 'app',
      logger: silentLogger(),
    },
    {
      event: 'ONBATT',
      ups: 'su700',
      message: 'UPS su700 on battery',
      vars: { 'ups.status': 'OB DISCHRG', 'battery.charge': '87', 'battery.runtime': '1260' },
    },
  );
  assert.equal(result?.exitCode, 0);
  assert.deepEqual(result?.stdout.trim().split('\n'), [
    'NOTIFYTYPE=ONBATT',
    'UPSFLEET_AGENT_ID=web-1',
    'UPSFLEET_CHARGE=87',
    'UPSFLEET_EVENT=ONBATT',
    'UPSFLEET_GROUP=app',
    'UPSFLEET_MESSAGE=UPS su700 on battery',
    'UPSFLEET_RUNTIME=1260',
    'UPSFLEET_STATUS=OB DISCHRG',
    'UPSFLEET_UPS=su700',
    'UPSNAME=su700',
  ]);
});

test('unknown variables are empty; no command means nothing runs', async () => {
  const target = { timeoutMs: 1_000, agentId: 'a', group: 'g', logger: silentLogger() };
  assert.equal(await runNotify(target, { event: 'ONLINE', ups: 'u', message: 'm' }), null);
  const r = await runNotify(
    { ...target, command: ['sh', '-c', 'printf "[%s]" "$UPSFLEET_CHARGE"'] },
    {
      event: 'ONLINE',
      ups: 'u',
      message: 'm',
    },
  );
  assert.equal(r?.stdout, '[]');
});

test('a failing or missing notifier is logged, never thrown', async () => {
  const target = { timeoutMs: 1_000, agentId: 'a', group: 'g', logger: silentLogger() };
  const failed = await runNotify(
    { ...target, command: 'exit 4' },
    { event: 'ONLINE', ups: 'u', message: 'm' },
  );
  assert.equal(failed?.exitCode, 4);
  const missing = await runNotify(
    { ...target, command: ['/nonexistent/notify'] },
    { event: 'ONLINE', ups: 'u', message: 'm' },
  );
  assert.match(missing?.spawnError ?? '', /ENOENT/);
});
