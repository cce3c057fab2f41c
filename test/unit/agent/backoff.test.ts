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
