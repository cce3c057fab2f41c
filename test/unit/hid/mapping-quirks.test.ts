/** Vendor quirks of nut.md §4.4 and the generic rules, on real captures (bytes changed only through the codec). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replayCapture } from '../../../master/sources/usbhid/capture-replay.js';
import { bytesToHex, hexToBytes } from '../../../master/sources/usbhid/hid/hex.js';
import { encodeField, encodeLogicalField } from '../../../master/sources/usbhid/hid/report-codec.js';
import { vendorProfileFor } from '../../../master/sources/usbhid/mapping/vendor-tables.js';
import { type Fixture, loadFixture } from './fixtures.js';

/** A copy of a fixture's capture with one field rewritten through the codec. */
function withField(fx: Fixture, path: string, value: number, logical = false) {
  const field = fx.descriptor.fields.find((f) => f.type === 'Feature' && f.path === path)!;
  assert.ok(field, path);
  const key = String(field.reportId);
  const bytes = hexToBytes(fx.capture.featureReports[key]!);
  const out = logical ? encodeLogicalField(bytes, field, value) : encodeField(bytes, field, value);
  return { ...fx.capture, featureReports: { ...fx.capture.featureReports, [key]: bytesToHex(out) } };
}

describe('vendor tables and quirks', () => {
  it('picks the vendor table by USB vendor id, generic otherwise', () => {
    assert.equal(vendorProfileFor('051d').id, 'apc');
    assert.equal(vendorProfileFor('0764').id, 'cyberpower');
    assert.equal(vendorProfileFor('0463').id, 'eaton');
    assert.equal(vendorProfileFor('09AE').id, 'tripplite');
    assert.equal(vendorProfileFor('0d9f').id, 'powercom');
    assert.equal(vendorProfileFor('5131').id, 'generic');
  });

  it('APC: splits model and firmware out of the product string', () => {
    const fx = loadFixture('apc-back-ups-500.json');
    const { vars } = replayCapture(fx.capture, fx.descriptor);
    assert.equal(vars['ups.model'], 'Back-UPS 500');
    assert.equal(vars['ups.firmware'], '6.5.I');
    assert.equal(vars['ups.firmware.aux'], 'c1');
    assert.equal(vars['device.mfr'], 'American Power Conversion');
  });

  it('CyberPower: rescales a battery voltage reported x1.5', () => {
    const fx = loadFixture('cyberpower-cp1500avrlcda.json');
    assert.equal(replayCapture(fx.capture, fx.descriptor).vars['battery.voltage'], '27');
    const inflated = withField(fx, 'UPS.PowerSummary.Voltage', 40.5);
    assert.equal(replayCapture(inflated, fx.descriptor).vars['battery.voltage'], '27');
  });

  it('CyberPower: output voltage gets the input voltage logical range (descriptor fix-up)', () => {
    const fx = loadFixture('cyberpower-cp1500avrlcda.json');
    const { ups } = replayCapture(fx.capture, fx.descriptor);
    const out = ups.descriptor.fields.find((f) => f.path === 'UPS.Output.Voltage')!;
    const inp = ups.descriptor.fields.find((f) => f.path === 'UPS.Input.Voltage')!;
    assert.deepEqual([out.logicalMin, out.logicalMax], [inp.logicalMin, inp.logicalMax]);
  });

  it('CyberPower: frequency in 0.1 Hz is scaled to Hz', () => {
    const fx = loadFixture('cyberpower-cp1500avrlcda.json');
    const vars = { 'input.frequency': '600', 'output.frequency': '59.9' };
    vendorProfileFor('0764').postProcess!(vars);
    assert.deepEqual(vars, { 'input.frequency': '60', 'output.frequency': '59.9' });
    assert.ok(fx);
  });

  it('drops a 16-bit runtime of 65535 (overflow) and keeps real values', () => {
    const fx = loadFixture('cyberpower-cp1500avrlcda.json');
    const overflow = withField(fx, 'UPS.PowerSummary.RunTimeToEmpty', 65535);
    assert.equal(replayCapture(overflow, fx.descriptor).vars['battery.runtime'], undefined);
    assert.equal(replayCapture(fx.capture, fx.descriptor).vars['battery.runtime'], '2343');
  });

  it('LB from each of BelowRemainingCapacityLimit, RemainingTimeLimitExpired, ShutdownImminent', () => {
    const fx = loadFixture('apc-back-ups-bx1600mi.json');
    for (const flag of ['BelowRemainingCapacityLimit', 'RemainingTimeLimitExpired', 'ShutdownImminent']) {
      // BelowRemainingCapacityLimit lives in report 20 and PresentStatus (22); set the newest-read copy.
      const path =
        flag === 'BelowRemainingCapacityLimit'
          ? 'UPS.PowerSummary.BelowRemainingCapacityLimit'
          : `UPS.PowerSummary.PresentStatus.${flag}`;
      const cap = withField(fx, path, 1);
      assert.match(replayCapture(cap, fx.descriptor).vars['ups.status']!, /\bLB\b/, flag);
    }
  });

  it('OVER, RB, BOOST/TRIM from the standard booleans (Eaton 5SC)', () => {
    const fx = loadFixture('eaton-5sc-750.json');
    let cap = withField(fx, 'UPS.PowerSummary.PresentStatus.Overload', 1);
    assert.equal(replayCapture(cap, fx.descriptor).vars['ups.status'], 'OL CHRG OVER');
    cap = withField(fx, 'UPS.PowerSummary.PresentStatus.NeedReplacement', 1);
    assert.equal(replayCapture(cap, fx.descriptor).vars['ups.status'], 'OL RB CHRG');
    cap = withField(fx, 'UPS.PowerConverter.Input.[1].PresentStatus.Boost', 1);
    assert.equal(replayCapture(cap, fx.descriptor).vars['ups.status'], 'OL CHRG BOOST');
    cap = withField(fx, 'UPS.PowerConverter.Input.[1].PresentStatus.Buck', 1);
    assert.equal(replayCapture(cap, fx.descriptor).vars['ups.status'], 'OL CHRG TRIM');
  });

  it('generic device (5131:2007): capacity in A·s becomes a percentage; the input report applies after the features', () => {
    const fx = loadFixture('unknown-5131-2007.json');
    const { vars } = replayCapture(fx.capture, fx.descriptor);
    assert.equal(vars['battery.charge'], '100');
    assert.equal(vars['ups.status'], 'OL');
    assert.equal(vars['battery.runtime'], '0');
  });

  it('publishes identity, delays and the standard variables', () => {
    const fx = loadFixture('tripplite-ups-4003.json');
    const { vars } = replayCapture(fx.capture, fx.descriptor);
    assert.equal(vars['device.mfr'], 'Tripp Lite');
    assert.equal(vars['ups.vendorid'], '09ae');
    assert.equal(vars['ups.delay.shutdown'], '20');
    assert.equal(vars['output.voltage'], '120');
    assert.equal(vars['ups.load'], '20');
    assert.equal(vars['battery.temperature'], '23.9');
    assert.equal(vars['ups.beeper.status'], 'enabled');
  });
});
