/**
 * NodeHidDevice over node-hid's own JavaScript (its HIDAsync class: the 'data' listener that starts the
 * read thread on the next tick, the string errors of the read callback, close()), with only the native
 * handle below it replaced, because this machine has no /dev/hidraw. The stand-in follows node-hid 3.4's
 * HIDAsync.cc: readStart on a closed handle throws `TypeError: device has been closed`, close twice throws,
 * GET_REPORT into a buffer shorter than 2 bytes fails like hidraw (EINVAL). The same behaviour is proven
 * against the real kernel by the contract suite in the QEMU guest.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import {
  NodeHidDevice,
  type NodeHidHandle,
} from '../../../master/sources/usbhid/bindings/node-hid-binding.js';

const require = createRequire(import.meta.url);

interface NativeStandIn {
  closed: boolean;
  reading: boolean;
  lengths: number[];
  /** The read thread reports a failure the way node-hid's read callback does: a string. */
  failRead(reason: string): void;
  /** The read thread hands over an interrupt-IN report. */
  read(bytes: number[]): void;
}

/** node-hid's HIDAsync wrapping a stand-in native handle, or the reason node-hid cannot load here. */
function openThroughNodeHid(): { handle: NodeHidHandle; native: NativeStandIn } | string {
  let hid: typeof import('node-hid');
  let nativeModule: { HIDAsync: { prototype: object } };
  try {
    hid = require('node-hid');
    hid.setDriverType('hidraw');
    hid.getHidapiVersion(); // loads node-hid's native module, which its HIDAsync class checks against
    const dir = dirname(require.resolve('node-hid/package.json'));
    const fromNodeHid = createRequire(`${dir}/package.json`);
    nativeModule = fromNodeHid('pkg-prebuilds/bindings')(dir, {
      ...fromNodeHid('./binding-options.js'),
      name: 'HID_hidraw',
    });
  } catch (err) {
    return `node-hid's native module does not load here: ${(err as Error).message}`;
  }
  const state = { closed: false, reading: false, lengths: [] as number[] };
  // Native work runs on a worker thread: its promise settles in a later turn of the event loop.
  const later = <T>(settle: () => T) => new Promise<T>((resolve) => setImmediate(() => resolve(settle())));
  let readCallback: ((err: unknown, data: Buffer | null) => void) | undefined;
  const raw = Object.create(nativeModule.HIDAsync.prototype) as Record<string, unknown>;
  const hidden = (name: string, fn: (...args: never[]) => unknown) =>
    Object.defineProperty(raw, name, { value: fn, enumerable: false });
  const shown = (name: string, fn: (...args: never[]) => unknown) =>
    Object.defineProperty(raw, name, { value: fn, enumerable: true });
  hidden('readStart', (cb: (err: unknown, data: Buffer | null) => void) => {
    if (state.closed) throw new TypeError('device has been closed');
    if (state.reading) throw new TypeError('read is already running');
    state.reading = true;
    readCallback = cb;
    return null;
  });
  hidden('readStop', () => {
    if (!state.reading) return null;
    state.reading = false;
    return later(() => undefined);
  });
  hidden('close', () => {
    if (state.closed) throw new TypeError('device is already closed');
    state.closed = true;
    state.reading = false;
    return later(() => undefined);
  });
  shown('getFeatureReport', (id: number, length: number) => {
    if (state.closed) throw new TypeError('device has been closed');
    if (length <= 0) throw new TypeError('Length parameter cannot be zero in getFeatureReport');
    state.lengths.push(length);
    return later(() => {
      if (length < 2)
        throw new Error('could not get feature report from device: ioctl (GFEATURE): Invalid argument');
      return Buffer.from([id, 0x64, 0, 0].slice(0, length));
    });
  });
  shown('sendFeatureReport', (data: Buffer) => {
    if (state.closed) throw new TypeError('device has been closed');
    return later(() => data.length);
  });
  const HIDAsync = hid.HIDAsync as unknown as new (raw: unknown) => NodeHidHandle;
  const handle = new HIDAsync(raw);
  return {
    handle,
    native: {
      get closed() {
        return state.closed;
      },
      get reading() {
        return state.reading;
      },
      lengths: state.lengths,
      failRead: (reason) => readCallback?.(reason, null),
      read: (bytes) => readCallback?.(null, Buffer.from(bytes)),
    },
  };
}

const info = { path: '/dev/hidraw7', vendorId: '051d', productId: '0002' };
const ticks = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/** Fails the test on an exception that escaped every promise (node-hid's next-tick read start). */
function watchUncaught(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  const previous = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onError);
  return {
    errors,
    stop() {
      process.removeListener('uncaughtException', onError);
      for (const l of previous) process.on('uncaughtException', l);
    },
  };
}

describe('NodeHidDevice over node-hid', () => {
  it('close() before node-hid starts its read thread crashes nothing; every later call rejects HID_IO', async (t) => {
    const opened = openThroughNodeHid();
    if (typeof opened === 'string') return t.skip(opened);
    const uncaught = watchUncaught();
    try {
      const device = new NodeHidDevice(opened.handle, info);
      await device.close(); // same tick as the constructor: node-hid's read start is still queued
      await ticks();
      assert.deepEqual(uncaught.errors, [], 'no exception escaped');
      assert.equal(device.closed, true);
      assert.equal(opened.native.closed, true);
      await device.close();
      await assert.rejects(device.getFeatureReport(1, 8), { code: 'HID_IO' });
      await assert.rejects(device.sendFeatureReport(Uint8Array.of(1, 0)), { code: 'HID_IO' });
      await assert.rejects(device.reportDescriptor(), { code: 'HID_IO' });
    } finally {
      uncaught.stop();
    }
  });

  it('reads interrupt reports once node-hid started; close() after that stops the reader cleanly', async (t) => {
    const opened = openThroughNodeHid();
    if (typeof opened === 'string') return t.skip(opened);
    const uncaught = watchUncaught();
    try {
      const device = new NodeHidDevice(opened.handle, info);
      await ticks();
      assert.equal(opened.native.reading, true, 'node-hid started its read thread');
      await device.close();
      await ticks();
      assert.deepEqual(uncaught.errors, []);
      assert.equal(opened.native.closed, true);
    } finally {
      uncaught.stop();
    }
  });

  it('an unplug (node-hid emits a string) becomes a coded Error with a readable reason and closes the device', async (t) => {
    const opened = openThroughNodeHid();
    if (typeof opened === 'string') return t.skip(opened);
    const device = new NodeHidDevice(opened.handle, info);
    await ticks();
    const errors: Error[] = [];
    device.onError((err) => errors.push(err));
    opened.native.failRead('hid_read_timeout: unexpected poll error (device disconnected)');
    await ticks();
    assert.equal(errors.length, 1);
    const err = errors[0] as Error & { code?: string; details?: Record<string, unknown> };
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'HID_IO');
    assert.equal(
      err.message,
      '/dev/hidraw7: read failed: hid_read_timeout: unexpected poll error (device disconnected)',
    );
    assert.doesNotMatch(err.message, /undefined/);
    assert.equal(device.closed, true, 'closed after the unplug, as on the replay binding');
    assert.equal(opened.native.closed, true, 'the native handle was released');
    await assert.rejects(device.getFeatureReport(1, 8), { code: 'HID_IO' });
  });

  it('never hands hidraw a GET_REPORT buffer shorter than 2 bytes', async (t) => {
    const opened = openThroughNodeHid();
    if (typeof opened === 'string') return t.skip(opened);
    const device = new NodeHidDevice(opened.handle, info);
    await assert.rejects(device.getFeatureReport(3, 1), { code: 'HID_IO' });
    assert.deepEqual(opened.native.lengths, [], 'refused before reaching the kernel');
    assert.deepEqual([...(await device.getFeatureReport(3, 2))], [3, 0x64]);
    await device.close();
  });

  it('keeps the input reports a UPS sends on open for the first input listener (hidraw queues them too)', async (t) => {
    const opened = openThroughNodeHid();
    if (typeof opened === 'string') return t.skip(opened);
    const device = new NodeHidDevice(opened.handle, info);
    await ticks();
    opened.native.read([0x0b, 0x90, 0x01, 0, 0, 0, 1]); // 5131:2007's input report, before anyone listens
    const got: number[][] = [];
    device.onInput((r) => got.push([...r]));
    await ticks();
    assert.deepEqual(got, [[0x0b, 0x90, 0x01, 0, 0, 0, 1]]);
    opened.native.read([0x0b, 0x90, 0x01, 0, 0, 0, 0]);
    assert.equal(got.length, 2, 'later reports go straight to the listener');
    await device.close();
  });
});
