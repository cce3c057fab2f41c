/**
 * One contract, two targets: the replay binding always, node-hid against a real UPS when
 * UPSFLEET_TEST_HID=/dev/hidrawN is set (read-only: it never sends a report to the device).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HidBinding } from '../../../master/sources/usbhid/bindings/hid-binding.js';
import { NodeHidBinding } from '../../../master/sources/usbhid/bindings/node-hid-binding.js';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import { decodeReport } from '../../../master/sources/usbhid/hid/report-codec.js';
import { parseReportDescriptor } from '../../../master/sources/usbhid/hid/report-descriptor.js';
import { loadFixture } from './fixtures.js';

const HINT = 'set UPSFLEET_TEST_HID=/dev/hidrawN to run against a real UPS';

interface Target {
  name: string;
  make(): { binding: HidBinding; path: string } | undefined;
}

const targets: Target[] = [
  {
    name: 'replay binding',
    make: () => {
      const binding = new ReplayBinding(loadFixture('eaton-5sc-750.json').capture);
      return { binding, path: binding.info.path };
    },
  },
  {
    name: 'node-hid binding',
    make: () =>
      process.env.UPSFLEET_TEST_HID
        ? { binding: new NodeHidBinding(), path: process.env.UPSFLEET_TEST_HID }
        : undefined,
  },
];

for (const target of targets) {
  describe(`HidBinding contract: ${target.name}`, () => {
    it('lists the device with 4-digit lower-case hex ids', async (t) => {
      const made = target.make();
      if (!made) return t.skip(HINT);
      const info = (await made.binding.list()).find((d) => d.path === made.path);
      assert.ok(info, 'device listed');
      assert.match(info.vendorId, /^[0-9a-f]{4}$/);
      assert.match(info.productId, /^[0-9a-f]{4}$/);
    });

    it('reads a descriptor that parses and feature reports that decode', async (t) => {
      const made = target.make();
      if (!made) return t.skip(HINT);
      const device = await made.binding.open(made.path);
      try {
        const descriptor = parseReportDescriptor(await device.reportDescriptor());
        const [id, length] = [...descriptor.reportLengths.Feature.entries()][0]!;
        const report = await device.getFeatureReport(id, length);
        assert.ok(report.length >= 1);
        if (descriptor.usesReportIds) assert.equal(report[0], id);
        assert.ok(decodeReport(descriptor, 'Feature', report).length > 0);
      } finally {
        await device.close();
      }
    });

    it('rejects every call on a closed device with HID_IO; close is idempotent', async (t) => {
      const made = target.make();
      if (!made) return t.skip(HINT);
      const device = await made.binding.open(made.path);
      await device.close();
      await device.close();
      assert.equal(device.closed, true);
      await assert.rejects(device.getFeatureReport(1, 8), { code: 'HID_IO' });
      await assert.rejects(device.sendFeatureReport(Uint8Array.of(1, 0)), { code: 'HID_IO' });
      await assert.rejects(device.reportDescriptor(), { code: 'HID_IO' });
    });

    it('refuses a GET_REPORT buffer shorter than 2 bytes with HID_IO, as hidraw does (EINVAL)', async (t) => {
      const made = target.make();
      if (!made) return t.skip(HINT);
      const device = await made.binding.open(made.path);
      try {
        const descriptor = parseReportDescriptor(await device.reportDescriptor());
        const [id] = [...descriptor.reportLengths.Feature.keys()];
        await assert.rejects(device.getFeatureReport(id!, 1), { code: 'HID_IO' });
        assert.equal(device.closed, false, 'a refused call leaves the device open');
        const two = await device.getFeatureReport(id!, 2);
        assert.ok(two.length >= 1 && two.length <= 2);
      } finally {
        await device.close();
      }
    });

    it('rejects opening a path that does not exist with HID_NO_DEVICE', async (t) => {
      const made = target.make();
      if (!made) return t.skip(HINT);
      await assert.rejects(made.binding.open('/dev/hidraw-does-not-exist'), { code: 'HID_NO_DEVICE' });
    });
  });
}

describe('replay binding extras', () => {
  it('unplug fails open devices and empties the list; replug restores it', async () => {
    const binding = new ReplayBinding(loadFixture('apc-back-ups-500.json').capture);
    const device = await binding.open(binding.info.path);
    const errors: Error[] = [];
    device.onError((e) => errors.push(e));
    binding.unplug();
    assert.equal(errors.length, 1);
    assert.equal(device.closed, true);
    // Shaped like the node-hid binding's unplug error: coded, with a reason that reads well.
    assert.equal((errors[0] as Error & { code?: string }).code, 'HID_IO');
    assert.equal(errors[0]!.message, `${binding.info.path}: read failed: device disconnected`);
    assert.deepEqual(await binding.list(), []);
    await assert.rejects(binding.open(binding.info.path), { code: 'HID_NO_DEVICE' });
    binding.replug();
    assert.equal((await binding.list()).length, 1);
  });

  it('records every sendFeatureReport and serves it back', async () => {
    const binding = new ReplayBinding(loadFixture('apc-back-ups-500.json').capture);
    const device = await binding.open(binding.info.path);
    await device.sendFeatureReport(Uint8Array.of(0x11, 0x14, 0, 0));
    assert.deepEqual(
      binding.recording.map((r) => r.hex),
      ['11140000'],
    );
    assert.deepEqual([...(await device.getFeatureReport(0x11, 4))], [0x11, 0x14, 0, 0]);
    await device.close();
  });
});
