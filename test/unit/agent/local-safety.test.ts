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

test('each step waits its own delay on top of the deadtime: step 1 before step 3, nobody at once', () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  // spacing 10s: step 1 gets 0, step 3 gets (3 - 1) × 10s, as the master's welcome says
  const step = (name: string, lostMasterDelayMs: number) => {
    const safety = new LocalSafety({
      deadtimeMs: 15_000,
      lostMasterDelayMs,
      clock,
      logger: silentLogger(),
      onShutdown: () => fired.push(name),
    });
    safety.observeStatus('su700', 'OB DISCHRG');
    return safety;
  };
  const first = step('step 1', 0);
  const third = step('step 3', 20_000);
  assert.equal(first.effectiveDeadtimeMs, 15_000);
  assert.equal(third.effectiveDeadtimeMs, 35_000);
  const lastContact = clock.now();
  first.masterUnreachable(lastContact);
  third.masterUnreachable(lastContact);
  clock.advance(15_000);
  assert.deepEqual(fired, ['step 1']);
  clock.advance(19_999);
  assert.deepEqual(fired, ['step 1']);
  clock.advance(1);
  assert.deepEqual(fired, ['step 1', 'step 3']);
});

test('a delay set by a welcome applies to the next loss of the master, and 0 (early group) is the plain deadtime', () => {
  const { clock, reasons, safety } = setup(15_000);
  safety.observeStatus('su700', 'OB');
  safety.setLostMasterDelay(30_000);
  safety.masterUnreachable(clock.now());
  clock.advance(44_999);
  assert.deepEqual(reasons, []);
  clock.advance(1);
  assert.deepEqual(reasons, ['master unreachable for 45s while on battery']);

  const early = setup(15_000);
  early.safety.observeStatus('su700', 'OB');
  early.safety.setLostMasterDelay(0);
  early.safety.masterUnreachable(early.clock.now());
  early.clock.advance(15_000);
  assert.equal(early.reasons.length, 1);
});

test('the warning names the configured deadtime, the step delay and the effective deadtime', async () => {
  const clock = new ManualClock();
  const logged: Array<Record<string, unknown>> = [];
  const logger = (await import('pino')).pino(
    { level: 'info' },
    { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const safety = new LocalSafety({
    deadtimeMs: 15_000,
    lostMasterDelayMs: 30_000,
    clock,
    logger,
    onShutdown: () => {},
  });
  safety.observeStatus('su700', 'OB');
  clock.advance(5_000);
  safety.masterUnreachable(clock.now() - 5_000);
  const warn = logged.find((l) => String(l.msg).startsWith('master unreachable while on battery'));
  assert.ok(warn, 'no warning logged');
  assert.equal(warn.level, 40);
  assert.equal(warn.deadtimeMs, 15_000);
  assert.equal(warn.lostMasterDelayMs, 30_000);
  assert.equal(warn.effectiveDeadtimeMs, 45_000);
  assert.equal(warn.shutdownInMs, 40_000);
});

function withLastAttempt(answer: (budgetMs: number) => Promise<boolean>, deadtimeMs = 15_000) {
  const clock = new ManualClock();
  const reasons: string[] = [];
  const budgets: number[] = [];
  const safety = new LocalSafety({
    deadtimeMs,
    clock,
    logger: silentLogger(),
    onShutdown: (r) => reasons.push(r),
    lastAttempt: (budgetMs) => {
      budgets.push(budgetMs);
      return answer(budgetMs);
    },
    lastAttemptMs: 4_000,
  });
  safety.observeStatus('su700', 'OB DISCHRG');
  return { clock, reasons, budgets, safety };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test('shutdownAt says when the countdown ends (the backoff never waits past it), null when none runs', () => {
  const { clock, safety } = setup(15_000);
  assert.equal(safety.shutdownAt, null);
  safety.observeStatus('su700', 'OB');
  const last = clock.now();
  clock.advance(3_000);
  safety.masterUnreachable(last);
  assert.equal(safety.shutdownAt, last + 15_000);
  safety.masterReachable();
  assert.equal(safety.shutdownAt, null);
});

test('at the deadline one last attempt is made first; a welcome on it cancels the shutdown', async () => {
  let welcome: (ok: boolean) => void = () => {};
  const { clock, reasons, budgets, safety } = withLastAttempt(
    () => new Promise<boolean>((r) => (welcome = r)),
  );
  safety.masterUnreachable(clock.now());
  clock.advance(14_999);
  assert.deepEqual(budgets, [], 'no last attempt before the deadline');
  clock.advance(1);
  assert.deepEqual(budgets, [4_000], 'one attempt, bounded');
  assert.equal(safety.shutdownAt, null);
  // the attempt's link opens (the agent reports it reachable): not enough, only its welcome counts
  safety.masterReachable();
  clock.advance(1_000);
  welcome(true);
  await tick();
  assert.deepEqual(reasons, [], 'welcomed: no shutdown');
  assert.equal(safety.triggered, false);
  clock.advance(60_000);
  assert.deepEqual(reasons, []);
  // a later loss counts again from its own last contact
  safety.masterUnreachable(clock.now());
  assert.equal(safety.shutdownAt, clock.now() + 15_000);
});

test('the last attempt fails: the shutdown follows at once, with the time the master was really gone', async () => {
  const { clock, reasons, safety } = withLastAttempt(() => Promise.resolve(false));
  safety.masterUnreachable(clock.now());
  clock.advance(15_000);
  assert.deepEqual(reasons, [], 'not before the attempt answered');
  await tick();
  assert.deepEqual(reasons, ['master unreachable for 15s while on battery']);
  assert.equal(safety.triggered, true);
});

test('a last attempt that never answers holds the shutdown back by its bound only', async () => {
  const { clock, reasons, safety } = withLastAttempt(() => new Promise<boolean>(() => {}));
  safety.masterUnreachable(clock.now());
  clock.advance(15_000);
  clock.advance(3_999);
  assert.deepEqual(reasons, []);
  clock.advance(1);
  assert.deepEqual(reasons, ['master unreachable for 19s while on battery']);
  await tick();
  assert.equal(reasons.length, 1, 'a late answer changes nothing');
});

test('stopped during the last attempt: no shutdown when it fails afterwards', async () => {
  let answer: (ok: boolean) => void = () => {};
  const { clock, reasons, safety } = withLastAttempt(() => new Promise<boolean>((r) => (answer = r)));
  safety.masterUnreachable(clock.now());
  clock.advance(15_000);
  safety.stop();
  answer(false);
  await tick();
  clock.advance(10_000);
  assert.deepEqual(reasons, []);
});
