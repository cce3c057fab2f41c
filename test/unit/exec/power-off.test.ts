import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../../shared/clock.js';
import { type PowerOffMarker, powerOff } from '../../../shared/exec/power-off.js';
import { createLogger } from '../../../shared/logger.js';

test('dry-run logs first, writes the marker atomically, and never runs the command', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-poweroff-'));
  const forbidden = join(dir, 'SOMEFILE');
  const marker = join(dir, 'state', 'web-1.poweroff');
  const logFile = join(dir, 'agent.log');
  const clock = new ManualClock(1_700_000_000_000);
  const logger = createLogger({ name: 'test', destination: logFile, sync: true, level: 'info' });

  const result = await powerOff({
    command: ['sh', '-c', `touch ${forbidden}`],
    dryRun: true,
    marker,
    logger,
    reason: 'fleet shutdown step 1',
    orderId: 'order-1',
    orderReceivedAt: 1_699_999_999_000,
    id: 'web-1',
    clock,
  });

  assert.deepEqual(result, { dryRun: true, ok: true, marker });
  // give a (wrongly) spawned command time to show itself
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(existsSync(forbidden), false, 'the power-off command must not run in dry-run');
  const m = JSON.parse(readFileSync(marker, 'utf8')) as PowerOffMarker;
  assert.deepEqual(m, {
    ts: 1_700_000_000_000,
    iso: '2023-11-14T22:13:20.000Z',
    id: 'web-1',
    reason: 'fleet shutdown step 1',
    orderId: 'order-1',
    orderReceivedAt: 1_699_999_999_000,
    command: ['sh', '-c', `touch ${forbidden}`],
    dryRun: true,
  });
  assert.deepEqual(readdirSync(join(dir, 'state')), ['web-1.poweroff'], 'no temp file left behind');
  const lines = readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string });
  assert.match(lines[0]?.msg ?? '', /dry-run: would power off now/);
});

test('real mode logs, runs the command and reports onStarted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-poweroff-'));
  const ran = join(dir, 'RAN');
  const logFile = join(dir, 'agent.log');
  const logger = createLogger({ name: 'test', destination: logFile, sync: true, level: 'info' });
  let started = 0;
  const result = await powerOff({
    // harmless stand-in for systemctl poweroff
    command: `touch ${ran}`,
    dryRun: false,
    marker: join(dir, 'unused'),
    logger,
    reason: 'test',
    id: 'web-1',
    onStarted: () => {
      started++;
    },
  });
  assert.equal(result.ok, true);
  assert.equal(result.dryRun, false);
  assert.equal(started, 1);
  assert.equal(existsSync(ran), true);
  assert.equal(existsSync(join(dir, 'unused')), false);
  const first = JSON.parse(readFileSync(logFile, 'utf8').split('\n')[0] ?? '{}') as { msg: string };
  assert.match(first.msg, /powering off now/);
});

test('a failing power-off command is reported, not thrown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-poweroff-'));
  const logger = createLogger({ name: 'test', destination: join(dir, 'a.log'), sync: true });
  const result = await powerOff({
    command: 'exit 1',
    dryRun: false,
    marker: '',
    logger,
    reason: 't',
    id: 'x',
  });
  assert.equal(result.ok, false);
  const lines = readFileSync(join(dir, 'a.log'), 'utf8').trim().split('\n');
  assert.match(lines.at(-1) ?? '', /SHUTDOWN_COMMAND_FAILED/);
});
