import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../../agent/backoff.js';

test('delays grow exponentially under the ceiling, capped at maxMs', () => {
  const top = new Backoff({ initialMs: 500, maxMs: 30_000, random: () => 0.999_999 });
  const delays = Array.from({ length: 9 }, () => top.next());
  assert.deepEqual(delays, [499, 999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999]);
});

test('full jitter: a delay is random * ceiling, never negative, never above maxMs', () => {
  const values = [0, 0.5, 0.25];
  let i = 0;
  const b = new Backoff({ initialMs: 1000, maxMs: 3000, random: () => values[i++ % values.length] ?? 0 });
  assert.equal(b.next(), 0); // ceiling 1000
  assert.equal(b.next(), 1000); // ceiling 2000
  assert.equal(b.next(), 750); // ceiling 3000 (capped from 4000)
  for (let k = 0; k < 100; k++) {
    const d = b.next();
    assert.ok(d >= 0 && d <= 3000);
  }
});

test('reset starts over from initialMs; max() gives the cap', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => 0.999 });
  for (let k = 0; k < 10; k++) b.next();
  assert.equal(b.ceiling(), 10_000);
  b.reset();
  assert.equal(b.ceiling(), 100);
  assert.equal(b.next(), 99);
  assert.equal(b.max(), 10_000);
});

test('never waits past the limit (the time left before the local deadtime), however high the pick', () => {
  const b = new Backoff({ initialMs: 500, maxMs: 30_000, random: () => 0.999 });
  for (let k = 0; k < 6; k++) b.next(); // the ceiling is at 30 s now
  assert.equal(b.ceiling(), 30_000);
  assert.equal(b.next(12_000), 12_000);
  assert.equal(b.next(3_500.7), 3_500);
  assert.equal(b.next(0), 0);
  assert.equal(b.next(-5), 0, 'a deadline already passed: retry at once');
  assert.equal(b.max(2_000), 2_000, 'even at the slowest pace');
  assert.equal(b.next(), 29_970, 'no limit: the plain pick');
});

test("the master's window sizes the first retry: a big fleet spreads, a small one stays fast", () => {
  const picks = [0.999, 0.5];
  let i = 0;
  const big = new Backoff({ initialMs: 500, maxMs: 30_000, random: () => picks[i++ % 2]! });
  big.setWindow(20_000);
  assert.equal(big.ceiling(), 20_000);
  assert.equal(big.next(), 19_985, 'drawn from the last three quarters of the window');
  assert.equal(big.ceiling(), 30_000, 'then doubles, capped at maxMs');
  big.reset();
  assert.equal(big.ceiling(), 20_000, 'the window holds across a reset (a welcome)');
  const low = new Backoff({ initialMs: 500, maxMs: 30_000, random: () => 0 });
  low.setWindow(20_000);
  assert.equal(low.next(), 5_000, 'not in the first quarter: the master is still restarting then');
  assert.equal(low.next(), 0, 'later retries use the whole range');
  low.reset(); // welcomed again
  assert.equal(low.next(1_000), 1_000, 'the deadline still wins over the floor');
  const small = new Backoff({ initialMs: 500, maxMs: 30_000, random: () => 0.999 });
  small.setWindow(60); // 30 agents
  assert.equal(small.next(), 499, 'our own initialMs wins over a window below it');
  const huge = new Backoff({ initialMs: 500, maxMs: 10_000, random: () => 0.999 });
  huge.setWindow(60_000);
  assert.equal(huge.next(), 9_992, 'never above our maxMs');
});
