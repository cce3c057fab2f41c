import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RECONNECT_WINDOW_MS, reconnectWindowMs } from '../../../master/servers/reconnect-window.js';

test('the reconnect window grows with the fleet: small fleets keep their own fast backoff, large ones spread', () => {
  assert.equal(reconnectWindowMs(0), 0);
  assert.ok(reconnectWindowMs(30) < 500, 'below the agents’ first backoff step (500 ms): it changes nothing');
  assert.equal(reconnectWindowMs(10_000), 30_000);
  assert.equal(reconnectWindowMs(1_000_000), MAX_RECONNECT_WINDOW_MS);
});
