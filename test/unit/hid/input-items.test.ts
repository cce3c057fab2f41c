/**
 * Input items and an honest ups.status, on real captures over the replay binding (issue 11, bugs 6 and 8).
 * GET_REPORT answers are decoded for their Input items too and Input-only report IDs are asked, as NUT
 * does, except where an ID's Input layout clashes with its Feature layout (5131:2007). A source that has
 * read no line status publishes nothing (the master then shows WAIT), and no ups.status is invented.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import type { Capture } from '../../../master/sources/usbhid/capture-file.js';
import { replayCapture } from '../../../master/sources/usbhid/capture-replay.js';
import { bytesToHex, hexToBytes } from '../../../master/sources/usbhid/hid/hex.js';
import { parseReportDescriptor } from '../../../master/sources/usbhid/hid/report-descriptor.js';
import { createUsbhidSource } from '../../../master/sources/usbhid/usbhid-source.js';
import { ManualClock } from '../../../shared/clock.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import { loadFixture } from './fixtures.js';

const flush = async () => {
  for (let i = 0; i < 400; i++) await new Promise<void>((r) => setImmediate(r));
};

/**
 * The same descriptor with the Feature main items of some report IDs made no-ops (each 2-byte `b1 xx`
 * becomes Push `a4` + Pop `b4`): the device then declares those reports' fields only as Input items,
 * while every byte it answers stays the real device's.
 */
function withoutFeatureItems(descriptorHex: string, reportIds: number[]): string {
  const bytes = hexToBytes(descriptorHex);
  let reportId = 0;
  let i = 0;
  let changed = 0;
  while (i < bytes.length) {
    const prefix = bytes[i]!;
    const size = [0, 1, 2, 4][prefix & 3]!;
    if (prefix === 0x85) reportId = bytes[i + 1]!;
    if ((prefix & 0xfc) === 0xb0 && reportIds.includes(reportId)) {
      assert.equal(size, 1, 'only 2-byte Feature items are rewritten');
      bytes[i] = 0xa4;
      bytes[i + 1] = 0xb4;
      changed++;
    }
    i += 1 + size;
  }
  assert.ok(changed > 0, 'some Feature items rewritten');
  return bytesToHex(bytes);
}

function recorder() {
  const updates: UpsVars[] = [];
  const comm: boolean[] = [];
  return {
    updates,
    comm,
    listener: { update: (v: UpsVars) => updates.push(v), comm: (ok: boolean) => comm.push(ok) },
    last: () => updates[updates.length - 1],
  };
}

async function startSource(capture: Capture) {
  const binding = new ReplayBinding(capture);
  const clock = new ManualClock();
  const rec = recorder();
  const source = createUsbhidSource({ upsName: 'ups', binding, clock, pollIntervalMs: 2000 });
  await source.start(rec.listener);
  return { binding, clock, rec, source };
}

/** PowerCOM BNT-800AP with charge (report 14, and Battery 24) and runtime (55) declared only as Input items. */
function inputOnlyPowercom(): Capture {
  const { capture } = loadFixture('powercom-bnt-800ap-online.json');
  return { ...capture, reportDescriptor: withoutFeatureItems(capture.reportDescriptor, [14, 24, 55]) };
}

describe('Input items in GET_REPORT answers', () => {
  it('a device whose charge and runtime exist only as Input items shows them in replay', () => {
    const capture = inputOnlyPowercom();
    const descriptor = parseReportDescriptor(hexToBytes(capture.reportDescriptor));
    assert.equal(descriptor.reportLengths.Feature.has(14), false, 'report 14 is Input-only now');
    assert.equal(descriptor.reportLengths.Input.has(14), true);
    const { vars } = replayCapture(capture, descriptor);
    assert.equal(vars['battery.charge'], '100');
    assert.equal(vars['battery.runtime'], '2100');
    assert.equal(vars['ups.status'], 'OL');
  });

  it('... and live: the source asks the Input-only report IDs and decodes their Input items', async () => {
    const { rec, source, binding, clock } = await startSource(inputOnlyPowercom());
    assert.equal(rec.last()?.['battery.charge'], '100');
    assert.equal(rec.last()?.['battery.runtime'], '2100');
    // The quick poll asks them too: the on-battery answers of the same unit arrive by GET_REPORT alone.
    const onBattery = loadFixture('powercom-bnt-800ap-onbattery.json').capture.featureReports;
    for (const id of ['10', '14', '55']) binding.setFeatureReport(onBattery[id]!);
    clock.advance(2000);
    await flush();
    assert.equal(rec.last()?.['battery.charge'], '78');
    assert.equal(rec.last()?.['battery.runtime'], '1500');
    assert.equal(rec.last()?.['ups.status'], 'OB DISCHRG');
    await source.stop();
  });

  it('5131:2007: the Feature answer is not read with the clashing Input layout; the interrupt report brings status and runtime', async () => {
    const { capture } = loadFixture('unknown-5131-2007.json');
    const { rec, binding, source } = await startSource({ ...capture, inputReports: [] });
    assert.deepEqual(rec.comm, [true]);
    assert.deepEqual(rec.updates, [], 'no line status read yet: nothing published (WAIT)');
    binding.emitInput(capture.inputReports![0]!);
    assert.equal(rec.updates.length, 1);
    assert.equal(rec.last()?.['ups.status'], 'OL');
    assert.equal(rec.last()?.['battery.runtime'], '0');
    assert.equal(rec.last()?.['battery.charge'], '100');
    await source.stop();
  });
});

describe('ups.status honest when no status flag was read', () => {
  it('descriptor-only captures decode to no ups.status at all', () => {
    for (const file of ['apc-back-ups-rs-1000g.json', 'cyberpower-ec850lcd.json']) {
      const { capture, descriptor } = loadFixture(file);
      const { vars } = replayCapture(capture, descriptor);
      assert.equal(vars['ups.status'], undefined, file);
    }
  });

  it('a UPS that answered only its charge report publishes nothing until a status report arrives', async () => {
    const { capture } = loadFixture('powercom-bnt-800ap-online.json');
    const onlyCharge = { ...capture, featureReports: { '14': capture.featureReports['14']! } };
    const { rec, binding, source } = await startSource(onlyCharge);
    assert.deepEqual(rec.comm, [true], 'the device answers');
    assert.deepEqual(rec.updates, [], 'but no OL is claimed from nothing');
    assert.deepEqual(source.variables()['battery.charge'], '100');
    assert.equal(source.variables()['ups.status'], undefined);
    binding.emitInput(capture.featureReports['10']!);
    assert.equal(rec.updates.length, 1);
    assert.equal(rec.last()?.['ups.status'], 'OL');
    await source.stop();
  });
});
