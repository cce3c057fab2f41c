import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandHookSpec } from '../../../shared/config/resolved.js';
import { type HookProgress, runHooks } from '../../../shared/exec/hook-runner.js';
import { silentLogger } from '../../../shared/logger.js';

function hook(name: string, run: string | string[], extra: Partial<CommandHookSpec> = {}): CommandHookSpec {
  return { name, run, timeoutMs: 5_000, drillSafe: false, ...extra };
}

test('hooks run in order; a failing hook does not stop the later ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-hooks-'));
  const log = join(dir, 'order.log');
  const progress: HookProgress[] = [];
  const summary = await runHooks(
    [
      hook('first', `echo first >> ${log}`),
      hook('broken', `echo broken >> ${log}; exit 7`),
      hook('missing', ['/nonexistent/upsfleet-hook']),
      hook('last', ['sh', '-c', `echo last >> ${log}`]),
    ],
    { logger: silentLogger(), onProgress: (p) => progress.push(p) },
  );
  assert.equal(readFileSync(log, 'utf8'), 'first\nbroken\nlast\n');
  assert.deepEqual(
    summary.outcomes.map((o) => [o.name, o.status, o.errorCode]),
    [
      ['first', 'ok', undefined],
      ['broken', 'failed', 'HOOK_FAILED'],
      ['missing', 'failed', 'HOOK_FAILED'],
      ['last', 'ok', undefined],
    ],
  );
  assert.equal(summary.failures, 2);
  assert.deepEqual(
    progress.map((p) => `${p.index}/${p.of} ${p.name} ${p.status}`),
    [
      '1/4 first started',
      '1/4 first ok',
      '2/4 broken started',
      '2/4 broken failed',
      '3/4 missing started',
      '3/4 missing failed',
      '4/4 last started',
      '4/4 last ok',
    ],
  );
  for (const p of progress) {
    if (p.status === 'started') assert.equal(p.durationMs, undefined);
    else assert.equal(typeof p.durationMs, 'number');
  }
});

test('a hook past its timeout is killed, reported HOOK_TIMEOUT, and the next hook still runs', async () => {
  const summary = await runHooks([hook('slow', 'sleep 30', { timeoutMs: 200 }), hook('after', 'true')], {
    logger: silentLogger(),
  });
  assert.equal(summary.outcomes[0]?.status, 'failed');
  assert.equal(summary.outcomes[0]?.errorCode, 'HOOK_TIMEOUT');
  assert.equal(summary.outcomes[0]?.result?.timedOut, true);
  assert.equal(summary.outcomes[1]?.status, 'ok');
});

test('in a drill only drillSafe hooks run; the others are reported skipped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-hooks-'));
  const log = join(dir, 'drill.log');
  const progress: HookProgress[] = [];
  const summary = await runHooks(
    [
      hook('stop-vms', `echo stop-vms >> ${log}`),
      hook('announce', `echo announce >> ${log}`, { drillSafe: true }),
    ],
    { logger: silentLogger(), drill: true, onProgress: (p) => progress.push(p) },
  );
  assert.equal(readFileSync(log, 'utf8'), 'announce\n');
  assert.deepEqual(
    summary.outcomes.map((o) => o.status),
    ['skipped', 'ok'],
  );
  assert.equal(summary.failures, 0);
  assert.deepEqual(
    progress.map((p) => `${p.index} ${p.status}`),
    ['1 skipped', '2 started', '2 ok'],
  );
});

test('hooks get the extra env; a throwing progress callback does not stop them', async () => {
  const summary = await runHooks([hook('env', 'test "$UPSFLEET_ORDER_ID" = o-1'), hook('two', 'true')], {
    logger: silentLogger(),
    env: { UPSFLEET_ORDER_ID: 'o-1' },
    onProgress: () => {
      throw new Error('socket gone');
    },
  });
  assert.deepEqual(
    summary.outcomes.map((o) => o.status),
    ['ok', 'ok'],
  );
});
