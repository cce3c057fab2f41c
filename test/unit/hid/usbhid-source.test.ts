/**
 * The whole usbhid source over the replay binding and a ManualClock: status transitions from input
 * reports, polling, unplug/replug, killpower and other commands asserted on the bytes sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import { bytesToHex, hexToBytes } from '../../../master/sources/usbhid/hid/hex.js';
import { decodeField, encodeField } from '../../../master/sources/usbhid/hid/report-codec.js';
import { createUsbhidSource } from '../../../master/sources/usbhid/usbhid-source.js';
import { ManualClock } from '../../../shared/clock.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import { loadFixture } from './fixtures.js';

const flush = async () => {
  for (let i = 0; i < 400; i++) await new Promise<void>((r) => setImmediate(r));
};

function recorder() {
  const updates: UpsVars[] = [];
  const comm: Array<[boolean, string]> = [];
  return {
    updates,
    comm,
    listener: {
      update: (v: UpsVars) => updates.push(v),
      comm: (ok: boolean, reason: string) => comm.push([ok, reason]),
    },
    last: () => updates[updates.length - 1]!,
  };
}

async function started(file: string, opts: Record<string, unknown> = {}) {
  const fixture = loadFixture(file);
  const binding = new ReplayBinding(fixture.capture);
  const clock = new ManualClock();
  const rec = recorder();
  const source = createUsbhidSource({
    upsName: 'ups',
    binding,
    clock,
    pollIntervalMs: 2000,
    fullPollIntervalMs: 30_000,
    reconnectIntervalMs: 5000,
    ...opts,
  });
  await source.start(rec.listener);
  return { fixture, binding, clock, rec, source };
}

describe('usbhid source over the replay binding', () => {
  it('publishes OL -> OB DISCHRG -> OB DISCHRG LB from input reports (PowerCOM BNT-800AP)', async () => {
    const { rec, binding, fixture, source } = await started('powercom-bnt-800ap-online.json');
    assert.deepEqual(rec.comm, [[true, rec.comm[0]![1]]]);
    assert.equal(rec.last()['ups.status'], 'OL');
    assert.equal(rec.last()['battery.charge'], '100');

    // The on-battery moment of the same unit, as its interrupt reports: status, charge, runtime.
    const onBattery = loadFixture('powercom-bnt-800ap-onbattery.json').capture.featureReports;
    binding.emitInput(onBattery['10']!);
    binding.emitInput(onBattery['14']!);
    binding.emitInput(onBattery['55']!);
    assert.equal(rec.last()['ups.status'], 'OB DISCHRG');
    assert.equal(rec.last()['battery.charge'], '78');
    assert.equal(rec.last()['battery.runtime'], '1500');

    // The same status report with BelowRemainingCapacityLimit set by the codec.
    const field = fixture.descriptor.fields.find(
      (f) => f.type === 'Input' && f.path === 'UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit',
    )!;
    const low = encodeField(hexToBytes(onBattery['10']!), field, 1);
    assert.equal(decodeField(low, field), 1);
    binding.emitInput(bytesToHex(low));
    assert.equal(rec.last()['ups.status'], 'OB LB DISCHRG');
    await source.stop();
  });

  it('polls on the clock and publishes only on change', async () => {
    const { rec, binding, clock, source } = await started('powercom-bnt-800ap-online.json');
    const before = rec.updates.length;
    clock.advance(2000);
    await flush();
    assert.equal(rec.updates.length, before, 'nothing changed, nothing published');
    binding.setFeatureReport(loadFixture('powercom-bnt-800ap-onbattery.json').capture.featureReports['10']!);
    clock.advance(2000);
    await flush();
    assert.equal(rec.last()['ups.status'], 'OB DISCHRG');
    await source.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('reports comm(false) on unplug and comm(true) on replug', async () => {
    const { rec, binding, clock, source } = await started('apc-back-ups-bx1600mi.json');
    binding.unplug();
    await flush();
    assert.deepEqual(
      rec.comm.map(([ok]) => ok),
      [true, false],
    );
    clock.advance(5000);
    await flush();
    assert.deepEqual(
      rec.comm.map(([ok]) => ok),
      [true, false],
      'still gone',
    );
    binding.replug();
    clock.advance(5000);
    await flush();
    assert.deepEqual(
      rec.comm.map(([ok]) => ok),
      [true, false, true],
    );
    assert.equal(rec.last()['ups.status'], 'OL');
    await source.stop();
  });

  it('starts without a device, reports comm(false) and connects when it appears', async () => {
    const fixture = loadFixture('eaton-5sc-750.json');
    const binding = new ReplayBinding(fixture.capture);
    binding.unplug();
    const clock = new ManualClock();
    const rec = recorder();
    const source = createUsbhidSource({ upsName: 'ups', binding, clock });
    await source.start(rec.listener);
    assert.deepEqual(
      rec.comm.map(([ok]) => ok),
      [false],
    );
    binding.replug();
    clock.advance(5000);
    await flush();
    assert.deepEqual(
      rec.comm.map(([ok]) => ok),
      [false, true],
    );
    assert.equal(rec.last()['ups.status'], 'OL CHRG');
    await source.stop();
  });

  it('killpower (shutdown.return) arms the restart then the cut (CyberPower, minutes on the wire)', async () => {
    const { binding, clock, source, fixture } = await started('cyberpower-cp1500avrlcda.json');
    assert.ok(source.commands().includes('shutdown.return'));
    const done = source.instantCommand('shutdown.return');
    await flush();
    clock.advance(125);
    await done;
    const start = fixture.descriptor.fields.find((f) => f.path === 'UPS.Output.DelayBeforeStartup')!;
    const stop = fixture.descriptor.fields.find((f) => f.path === 'UPS.Output.DelayBeforeShutdown')!;
    assert.deepEqual(
      binding.recording.map((r) => r.reportId),
      [start.reportId, stop.reportId],
    );
    // CyberPower's physical range turns seconds into minutes: 120 s -> 2, 60 s -> 1 on the wire.
    assert.equal(binding.recording[0]!.hex, '160200');
    assert.equal(binding.recording[1]!.hex, '150100');
    assert.equal(decodeField(binding.recording[0]!.bytes, start), 120);
    assert.equal(decodeField(binding.recording[1]!.bytes, stop), 60);
    await source.stop();
  });

  it('killpower on an APC Back-UPS without a startup delay uses the reboot delay; shutdown.stop writes -1', async () => {
    const { binding, source, fixture } = await started('apc-back-ups-bx1600mi.json', { offDelay: 30 });
    await source.instantCommand('shutdown.return');
    // No DelayBeforeStartup: APC's reboot delay (0xff86007c, report 64) cuts the load and restores it.
    const reboot = fixture.descriptor.fields.find((f) => f.type === 'Feature' && f.usage === 0xff86007c)!;
    assert.equal(binding.recording.length, 1);
    assert.equal(binding.recording[0]!.reportId, 64);
    assert.equal(decodeField(binding.recording[0]!.bytes, reboot), 30);
    const stop = fixture.descriptor.fields.find(
      (f) => f.type === 'Feature' && f.path === 'UPS.PowerSummary.DelayBeforeShutdown',
    )!;
    await source.instantCommand('shutdown.stop');
    assert.equal(binding.recording[1]!.hex, '15ffff');
    assert.equal(decodeField(binding.recording[1]!.bytes, stop), -1);
    await source.instantCommand('beeper.disable');
    assert.equal(binding.recording[2]!.hex, '1801');
    await assert.rejects(source.instantCommand('calibrate.start'), { code: 'SOURCE_COMMAND_UNSUPPORTED' });
    await source.stop();
  });

  it('writes battery.charge.low into its report, keeping the other fields (CyberPower report 7)', async () => {
    const { binding, source, fixture } = await started('cyberpower-cp1500avrlcda.json');
    assert.ok(source.writableVariables().some((v) => v.name === 'battery.charge.low'));
    await source.setVariable('battery.charge.low', '20');
    const sent = binding.recording[0]!;
    assert.equal(sent.hex, '0764050a141464');
    assert.equal(fixture.capture.featureReports['7'], '0764050a140a64');
    await source.setVariable('ups.delay.shutdown', '90');
    assert.equal(source.variables()['ups.delay.shutdown'], '90');
    await assert.rejects(source.setVariable('battery.charge', '5'), { code: 'SOURCE_VARIABLE_READONLY' });
    await source.stop();
  });

  it('ignoreLowBattery with overrides: drops device LB, raises LB from charge below the overridden low', async () => {
    const onBattery = await started('powercom-bnt-800ap-onbattery.json', {
      ignoreLowBattery: true,
      batteryChargeLow: 80,
    });
    assert.equal(onBattery.rec.last()['battery.charge.low'], '80');
    assert.equal(onBattery.rec.last()['ups.status'], 'OB LB DISCHRG');
    await onBattery.source.stop();
    const normal = await started('powercom-bnt-800ap-onbattery.json', {
      ignoreLowBattery: true,
      batteryRuntimeLow: 600,
    });
    assert.equal(normal.rec.last()['ups.status'], 'OB DISCHRG');
    await normal.source.stop();
  });

  it('a closed replay device throws HID_IO like the real one', async () => {
    const binding = new ReplayBinding(loadFixture('apc-back-ups-500.json').capture);
    const [info] = await binding.list();
    const device = await binding.open(info!.path);
    await device.close();
    await assert.rejects(device.getFeatureReport(12, 6), { code: 'HID_IO' });
  });
});
