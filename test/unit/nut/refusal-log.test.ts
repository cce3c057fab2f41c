/** Refusal log lines are rate-limited per kind and carry counters (issue 14: no line per refused connection). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { RefusalLog } from '../../../master/nut/server/refusal-log.js';
import { ManualClock } from '../../../shared/clock.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino(sink), lines };
}

test('the first refusal of a kind is logged at once, then one line a minute with the counts', () => {
  const clock = new ManualClock();
  const { logger, lines } = capture();
  const log = new RefusalLog(logger, clock, 60_000);
  for (let i = 0; i < 1000; i++) log.refused('connections-per-address', 'refused', { address: '10.0.0.9' });
  log.refused('login-failed', 'auth failed');
  assert.equal(lines.length, 2);
  assert.deepEqual(
    lines.map((l) => [l.refusal, l.refused, l.refusedTotal]),
    [
      ['connections-per-address', 1, 1],
      ['login-failed', 1, 1],
    ],
  );
  clock.advance(60_000);
  log.refused('connections-per-address', 'refused', { address: '10.0.0.9' });
  assert.equal(lines.length, 3);
  assert.deepEqual([lines[2]!.refused, lines[2]!.refusedTotal, lines[2]!.address], [1000, 1001, '10.0.0.9']);
  assert.deepEqual(log.totals(), { 'connections-per-address': 1001, 'login-failed': 1 });
});
