import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalSafety } from '../../../agent/local-safety.js';
import { ManualClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';

function setup(deadtimeMs = 15_000) {
  const clock = new ManualClock();
  const reasons: string[] = [];
  const safety = new LocalSafety({
    deadtimeMs,
    clock,
    logger: silentLogger(),
    onShutdown: (r) => reasons.push(r),
  });
  return { clock, reasons, safety };
}

test('on battery and master unreachable longer than deadtime: shut down once, saying why', () => {
  const { clock, reasons, safety } = setup();
  safety.observeStatus('su700', 'OB DISCHRG');
  safety.masterUnreachable(clock.now());
  clock.advance(14_999);
  assert.deepEqual(reasons, []);
  clock.advance(1);
  assert.deepEqual(reasons, ['master unreachable for 15s while on battery']);
  assert.equal(safety.triggered, true);
  // further disconnects never trigger a second shutdown
  safety.masterReachable();
  safety.masterUnreachable(clock.now());
  clock.advance(60_000);
  assert.equal(reasons.length, 1);
});

test('the deadtime counts from the last contact, not from when the drop was noticed', () => {
  const { clock, reasons, safety } = setup(15_000);
  safety.observeStatus('su700', 'OB');
  const lastContact = clock.now();
  clock.advance(10_000);
  safety.masterUnreachable(lastContact);
  clock.advance(5_000);
  assert.equal(reasons.length, 1);
});

test('on line power: never', () => {
  const { clock, reasons, safety } = setup();
  safety.observeStatus('su700', 'OL CHRG');
  safety.masterUnreachable(clock.now());
  clock.advance(3_600_000);
  assert.deepEqual(reasons, []);
  assert.equal(clock.pendingTimers(), 0);
});

test('nothing known yet: never (a UPS never heard from counts as healthy, as in upsmon)', () => {
  const { clock, reasons, safety } = setup();
  safety.masterUnreachable(null);
  clock.advance(3_600_000);
  assert.deepEqual(reasons, []);
});

test('a reconnect before the deadtime cancels it', () => {
  const { clock, reasons, safety } = setup();
  safety.observeStatus('su700', 'OB DISCHRG');
  safety.masterUnreachable(clock.now());
  clock.advance(10_000);
  safety.masterReachable();
  clock.advance(60_000);
  assert.deepEqual(reasons, []);
  assert.equal(safety.triggered, false);
});

test('the power came back before the link dropped: OL wins', () => {
  const { clock, reasons, safety } = setup();
  safety.observeStatus('su700', 'OB');
  safety.observeStatus('su700', 'OL');
  safety.masterUnreachable(clock.now());
  clock.advance(60_000);
  assert.deepEqual(reasons, []);
});

test('stop cancels a pending local shutdown', () => {
  const { clock, reasons, safety } = setup();
  safety.observeStatus('su700', 'OB');
  safety.masterUnreachable(clock.now());
  safety.stop();
  clock.advance(60_000);
  assert.deepEqual(reasons, []);
});
