import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Policy } from '../../../master/policy/policy.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { ManualClock } from '../../../shared/clock.js';
import type { EarlyGroupSpec } from '../../../shared/config/master-settings.js';
import type { TriggerSpec } from '../../../shared/config/resolved.js';
import { silentLogger } from '../../../shared/logger.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';

const DEBOUNCE = 5_000;
const DEADTIME = 15_000;

function setup(opts: { critical?: TriggerSpec; earlyGroups?: EarlyGroupSpec[] } = {}) {
  const clock = new ManualClock();
  const hub = new StateHub('ups', clock);
  const policy = new Policy({
    clock,
    logger: silentLogger(),
    debounceMs: DEBOUNCE,
    deadtimeMs: DEADTIME,
    critical: opts.critical ?? {},
    earlyGroups: opts.earlyGroups ?? [],
  });
  const events: string[] = [];
  const critical: Array<{ at: number; reason: string }> = [];
  const early: Array<{ at: number; group: string; reason: string }> = [];
  const start = clock.now();
  policy.subscribe({
    event: (e) => events.push(e),
    critical: (reason) => critical.push({ at: clock.now() - start, reason }),
    early: (group, reason) => early.push({ at: clock.now() - start, group, reason }),
  });
  policy.attach(hub);
  let vars: UpsVars = {};
  const publish = (next: UpsVars) => {
    vars = { ...vars, ...next };
    hub.publishVars(vars);
  };
  const status = (s: string, more: UpsVars = {}) => publish({ 'ups.status': s, ...more });
  return { clock, hub, policy, events, critical, early, publish, status, elapsed: () => clock.now() - start };
}

describe('policy: events', () => {
  it('emits events on status and comm transitions only', () => {
    const t = setup();
    t.status('OL CHRG', { 'battery.charge': '100' });
    assert.deepEqual(t.events, [], 'a master starting on mains announces nothing');
    t.status('OB DISCHRG');
    t.status('OB DISCHRG', { 'battery.charge': '90' });
    t.status('OB DISCHRG LB');
    t.status('OB DISCHRG LB RB');
    t.hub.publishComm(false, 'cable pulled');
    t.hub.publishComm(true, 'back');
    t.status('OL CHRG RB');
    t.status('FSD OL CHRG RB');
    assert.deepEqual(t.events, ['ONBATT', 'LOWBATT', 'REPLBATT', 'COMMBAD', 'COMMOK', 'ONLINE', 'FSD']);
  });

  it('treats WAIT and missing status as no data, not an outage', () => {
    const t = setup({ critical: { onBatteryForMs: 1_000 } });
    t.status('WAIT');
    t.publish({ 'battery.charge': '5' });
    t.clock.advance(60_000);
    assert.deepEqual(t.events, []);
    assert.deepEqual(t.critical, []);
    assert.equal(t.policy.view().onBatterySince, null);
  });

  it('evaluates the snapshot the hub already holds when attached', () => {
    const clock = new ManualClock();
    const hub = new StateHub('ups', clock);
    hub.publishVars({ 'ups.status': 'FSD OB LB' });
    const policy = new Policy({
      clock,
      logger: silentLogger(),
      debounceMs: DEBOUNCE,
      deadtimeMs: DEADTIME,
      critical: {},
      earlyGroups: [],
    });
    const critical: string[] = [];
    policy.subscribe({ critical: (r) => critical.push(r) });
    policy.attach(hub);
    assert.deepEqual(critical, ['FSD in ups.status']);
  });

  it('reports its view', () => {
    const t = setup();
    assert.deepEqual(t.policy.view(), {
      critical: false,
      reason: null,
      onBatterySince: null,
      communicating: true,
    });
    t.status('OB');
    const since = t.clock.now();
    t.clock.advance(1_000);
    t.hub.publishComm(false, 'gone');
    assert.deepEqual(t.policy.view(), {
      critical: false,
      reason: null,
      onBatterySince: since,
      communicating: false,
    });
  });
});

describe('policy: critical', () => {
  it('FSD in ups.status is critical immediately', () => {
    const t = setup();
    t.status('OL');
    t.status('FSD OL');
    assert.deepEqual(t.critical, [{ at: 0, reason: 'FSD in ups.status' }]);
  });

  it('forceShutdown is critical immediately and emits FSD', () => {
    const t = setup();
    t.status('OL');
    t.policy.forceShutdown('admin alice');
    assert.deepEqual(t.critical, [{ at: 0, reason: 'forced shutdown: admin alice' }]);
    assert.deepEqual(t.events, ['FSD']);
    t.policy.forceShutdown('again');
    assert.equal(t.critical.length, 1);
  });

  it('OB LB blip shorter than the debounce is not critical; held longer it is', () => {
    const t = setup();
    t.status('OL');
    t.status('OB LB');
    t.clock.advance(DEBOUNCE - 1);
    t.status('OL');
    t.clock.advance(DEBOUNCE * 4);
    assert.deepEqual(t.critical, []);

    t.status('OB LB');
    const from = t.elapsed();
    t.clock.advance(DEBOUNCE - 1);
    assert.deepEqual(t.critical, []);
    t.clock.advance(1);
    assert.deepEqual(t.critical, [{ at: from + DEBOUNCE, reason: 'on battery with low battery (OB LB)' }]);
  });

  it('LB clearing while still OB cancels the debounce', () => {
    const t = setup();
    t.status('OB LB');
    t.clock.advance(DEBOUNCE - 1);
    t.status('OB');
    t.clock.advance(DEBOUNCE);
    assert.deepEqual(t.critical, []);
  });

  it('OB LB during a calibration (CAL) is not critical', () => {
    const t = setup();
    t.status('OB LB CAL');
    t.clock.advance(DEBOUNCE * 10);
    assert.deepEqual(t.critical, []);
    t.status('OB LB');
    t.clock.advance(DEBOUNCE);
    assert.equal(t.critical.length, 1);
  });

  it('chargeBelow counts only on battery, after the debounce', () => {
    const t = setup({ critical: { chargeBelow: 30 } });
    t.status('OL CHRG', { 'battery.charge': '10' });
    t.clock.advance(DEBOUNCE * 2);
    assert.deepEqual(t.critical, [], 'low charge while charging on mains is not an outage');
    t.status('OB', { 'battery.charge': '29' });
    const from = t.elapsed();
    t.clock.advance(DEBOUNCE);
    assert.deepEqual(t.critical, [
      { at: from + DEBOUNCE, reason: 'battery.charge 29% below 30% on battery' },
    ]);
  });

  it('chargeBelow clearing (charge back above) cancels the debounce', () => {
    const t = setup({ critical: { chargeBelow: 30 } });
    t.status('OB', { 'battery.charge': '29' });
    t.clock.advance(DEBOUNCE - 1);
    t.publish({ 'battery.charge': '31' });
    t.clock.advance(DEBOUNCE);
    assert.deepEqual(t.critical, []);
  });

  it('runtimeBelow compares battery.runtime in seconds', () => {
    const t = setup({ critical: { runtimeBelowMs: 300_000 } });
    t.status('OB', { 'battery.runtime': '300' });
    t.clock.advance(DEBOUNCE * 2);
    assert.equal(t.critical.length, 0);
    t.publish({ 'battery.runtime': '299' });
    t.clock.advance(DEBOUNCE);
    assert.deepEqual(
      t.critical.map((c) => c.reason),
      ['battery.runtime 299s below 300s on battery'],
    );
  });

  it('onBatteryFor fires from a timer with no new data', () => {
    const t = setup({ critical: { onBatteryForMs: 60_000 } });
    t.status('OB');
    t.clock.advance(59_999);
    assert.deepEqual(t.critical, []);
    t.clock.advance(1);
    assert.deepEqual(t.critical, [{ at: 60_000, reason: 'on battery for 60s' }]);
  });

  it('onBatteryFor restarts after a return to mains', () => {
    const t = setup({ critical: { onBatteryForMs: 60_000 } });
    t.status('OB');
    t.clock.advance(50_000);
    t.status('OL');
    t.clock.advance(1_000);
    t.status('OB');
    t.clock.advance(59_999);
    assert.deepEqual(t.critical, []);
    t.clock.advance(1);
    assert.equal(t.critical.length, 1);
  });

  it('first condition to hold wins and names the reason', () => {
    const t = setup({ critical: { chargeBelow: 50, runtimeBelowMs: 600_000 } });
    t.status('OB', { 'battery.charge': '80', 'battery.runtime': '500' });
    t.clock.advance(2_000);
    t.publish({ 'battery.charge': '40' });
    t.clock.advance(2_000);
    t.status('OB LB');
    t.clock.advance(DEBOUNCE * 2);
    assert.deepEqual(t.critical, [{ at: DEBOUNCE, reason: 'battery.runtime 500s below 600s on battery' }]);
  });

  it('is latched: mains returning does not undo it', () => {
    const t = setup();
    t.status('OB LB');
    t.clock.advance(DEBOUNCE);
    assert.equal(t.critical.length, 1);
    t.status('OL CHRG');
    t.clock.advance(DEBOUNCE);
    assert.equal(t.policy.view().critical, true);
    assert.equal(t.policy.view().reason, 'on battery with low battery (OB LB)');
    t.status('OB LB');
    t.clock.advance(DEBOUNCE);
    assert.equal(t.critical.length, 1, 'critical is announced once');
  });
});

describe('policy: deadtime', () => {
  it('source lost while on battery is critical after the deadtime', () => {
    const t = setup();
    t.status('OB');
    t.clock.advance(1_000);
    t.hub.publishComm(false, 'usb unplugged');
    t.clock.advance(DEADTIME - 1);
    assert.deepEqual(t.critical, []);
    t.clock.advance(1);
    assert.deepEqual(t.critical, [
      { at: 1_000 + DEADTIME, reason: 'UPS source lost while on battery for 15s (deadtime)' },
    ]);
  });

  it('comm back before the deadtime is not critical', () => {
    const t = setup();
    t.status('OB');
    t.hub.publishComm(false, 'usb unplugged');
    t.clock.advance(DEADTIME - 1);
    t.hub.publishComm(true, 'back');
    t.clock.advance(DEADTIME * 3);
    assert.deepEqual(t.critical, []);
    assert.deepEqual(t.events, ['ONBATT', 'COMMBAD', 'COMMOK']);
  });

  it('comm lost while on line is never critical', () => {
    const t = setup();
    t.status('OL');
    t.hub.publishComm(false, 'usb unplugged');
    t.clock.advance(DEADTIME * 10);
    assert.deepEqual(t.critical, []);
  });

  it('comm lost before any data is not an outage', () => {
    const t = setup();
    t.hub.publishComm(false, 'no driver');
    t.clock.advance(DEADTIME * 10);
    assert.deepEqual(t.critical, []);
    assert.deepEqual(t.events, ['COMMBAD']);
  });
});

describe('policy: early groups', () => {
  const lab: EarlyGroupSpec = {
    name: 'lab',
    trigger: { onBatteryForMs: 30_000 },
    deadlineMs: 60_000,
    settleMs: 0,
  };
  const cold: EarlyGroupSpec = {
    name: 'cold',
    trigger: { chargeBelow: 90 },
    deadlineMs: 60_000,
    settleMs: 0,
  };

  it('fires each group once, on its own trigger, without making the fleet critical', () => {
    const t = setup({ earlyGroups: [lab, cold], critical: { chargeBelow: 20 } });
    t.status('OB', { 'battery.charge': '95' });
    t.clock.advance(10_000);
    t.publish({ 'battery.charge': '85' });
    t.clock.advance(DEBOUNCE);
    assert.deepEqual(t.early, [
      { at: 15_000, group: 'cold', reason: 'battery.charge 85% below 90% on battery' },
    ]);
    t.clock.advance(15_000);
    assert.deepEqual(
      t.early.map((e) => [e.at, e.group]),
      [
        [15_000, 'cold'],
        [30_000, 'lab'],
      ],
    );
    assert.deepEqual(t.critical, []);
    assert.equal(t.policy.view().critical, false);
    t.status('OL');
    t.status('OB');
    t.clock.advance(60_000);
    assert.equal(t.early.length, 2, 'once per group');
  });

  it('is debounced like the fleet rule: a blip does not fire', () => {
    const t = setup({ earlyGroups: [cold] });
    t.status('OB', { 'battery.charge': '85' });
    t.clock.advance(DEBOUNCE - 1);
    t.status('OL');
    t.clock.advance(DEBOUNCE);
    assert.deepEqual(t.early, []);
  });

  it('also fires after the fleet is critical', () => {
    const t = setup({ earlyGroups: [lab] });
    t.status('FSD OB');
    t.clock.advance(30_000);
    assert.equal(t.critical.length, 1);
    assert.deepEqual(
      t.early.map((e) => e.group),
      ['lab'],
    );
  });
});

describe('policy: stop', () => {
  it('cancels its timers and stops listening', () => {
    const t = setup({ critical: { onBatteryForMs: 1_000 } });
    t.status('OB');
    t.policy.stop();
    t.clock.advance(10_000);
    t.status('FSD OB');
    assert.deepEqual(t.critical, []);
    assert.equal(t.clock.pendingTimers(), 0);
  });
});
