/**
 * The real binding: node-hid (hidapi) for reports, Linux sysfs for the report descriptor (hidapi has no
 * getter for it). node-hid is a native optional dependency, so it is loaded lazily on first use; the
 * hidraw backend is selected because it needs no libusb and leaves the kernel driver attached.
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { UpsfleetError } from '../../../../shared/errors.js';
import type { ErrorListener, HidBinding, HidDevice, HidDeviceInfo, InputListener } from './hid-binding.js';
import { hex4, hidIoError, MIN_GET_REPORT_LENGTH } from './hid-binding.js';

type NodeHid = typeof import('node-hid');
type HidAsync = import('node-hid').HIDAsync;

let loaded: Promise<NodeHid> | undefined;

async function loadNodeHid(): Promise<NodeHid> {
  loaded ??= (async () => {
    try {
      const mod = (await import('node-hid')) as NodeHid & { default?: NodeHid };
      const hid = mod.default ?? mod;
      if (process.platform === 'linux') hid.setDriverType('hidraw');
      return hid;
    } catch (err) {
      loaded = undefined;
      throw new UpsfleetError(
        'HID_UNAVAILABLE',
        // npm 11 skips dependencies' install scripts until approved: where node-hid ships no prebuilt binary
        // for this platform, its build fallback then never ran and only the load says so
        `node-hid could not be loaded (install it beside upsfleet: npm i node-hid; it needs libudev; where npm ` +
          'skipped its build script: npm install-scripts approve node-hid && npm rebuild node-hid): ' +
          (err as Error).message,
        {},
        { cause: err },
      );
    }
  })();
  return loaded;
}

/** The sysfs file holding a hidraw node's report descriptor. */
export function sysfsDescriptorPath(devPath: string): string {
  return `/sys/class/hidraw/${basename(devPath)}/device/report_descriptor`;
}

/** Maps an OS error to our codes, with the exact fix for a permission problem. */
export function classifyOpenError(err: unknown, path: string): UpsfleetError {
  const message = (err as Error)?.message ?? String(err);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || /permission|access denied|EACCES/i.test(message)) {
    return new UpsfleetError(
      'HID_PERMISSION',
      `${path}: permission denied. Install a udev rule giving your group access: ` +
        '`upsfleet udev-rule | sudo tee /etc/udev/rules.d/90-upsfleet-ups.rules && sudo udevadm control --reload-rules && sudo udevadm trigger`, ' +
        'then add this user to that group (`sudo usermod -aG upsfleet $USER`) and log in again',
      { path },
      { cause: err },
    );
  }
  if (code === 'ENOENT' || /could not open|no such|cannot open/i.test(message)) {
    return new UpsfleetError(
      'HID_NO_DEVICE',
      `${path}: cannot open HID device (${message})`,
      { path },
      { cause: err },
    );
  }
  return new UpsfleetError('HID_IO', `${path}: ${message}`, { path }, { cause: err });
}

export class NodeHidBinding implements HidBinding {
  async list(): Promise<HidDeviceInfo[]> {
    const hid = await loadNodeHid();
    const devices = await hid.devicesAsync();
    return devices
      .filter((d) => d.path)
      .map((d) => ({
        path: d.path!,
        vendorId: hex4(d.vendorId),
        productId: hex4(d.productId),
        ...(d.manufacturer ? { manufacturer: d.manufacturer } : {}),
        ...(d.product ? { product: d.product } : {}),
        ...(d.serialNumber ? { serialNumber: d.serialNumber } : {}),
        ...(d.usagePage !== undefined ? { usagePage: d.usagePage } : {}),
      }));
  }

  async open(path: string): Promise<HidDevice> {
    const hid = await loadNodeHid();
    // Check access first: hidapi reports a permission problem only as "cannot open device".
    try {
      if (path.startsWith('/dev/')) await access(path, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw classifyOpenError(err, path);
    }
    let handle: HidAsync;
    try {
      handle = await hid.HIDAsync.open(path);
    } catch (err) {
      throw classifyOpenError(err, path);
    }
    // The handle is open: a failed enumeration must not leak it, only cost the identity strings.
    const listed = await this.list().catch(() => [] as HidDeviceInfo[]);
    const info = listed.find((d) => d.path === path) ?? {
      path,
      vendorId: '0000',
      productId: '0000',
    };
    return new NodeHidDevice(handle as unknown as NodeHidHandle, info);
  }
}

/**
 * What NodeHidDevice uses of node-hid's HIDAsync (an EventEmitter). node-hid starts its read thread on
 * the next tick after a 'data' listener is added; if the native handle was closed by then, that tick
 * throws `TypeError: device has been closed` outside any promise (a process crash). Its read errors
 * arrive as plain strings, not Errors.
 */
export interface NodeHidHandle {
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  removeListener(event: 'data' | 'error', listener: (...args: never[]) => void): unknown;
  getFeatureReport(reportId: number, length: number): Promise<Buffer>;
  sendFeatureReport(data: Buffer): Promise<number>;
  close(): Promise<void>;
}

const MAX_EARLY_INPUTS = 64;

/**
 * A HidDevice over an open node-hid handle. It cannot crash its process whatever the call order: the
 * 'error' listener is attached before the 'data' listener (an 'error' event without a listener throws),
 * and close() removes the 'data' listener before closing the native handle, so node-hid's pending read
 * start finds no listener and does nothing. After an unplug error the device is closed, as on replay.
 */
export class NodeHidDevice implements HidDevice {
  private closed_ = false;
  private readonly inputListeners = new Set<InputListener>();
  private readonly errorListeners = new Set<ErrorListener>();
  /** Input reports read before anyone listened: hidraw queues them for its reader, so do we (bounded). */
  private readonly early: Uint8Array[] = [];
  private readonly onData = (data: Buffer) => {
    if (this.closed_) return;
    if (this.inputListeners.size === 0) {
      if (this.early.length < MAX_EARLY_INPUTS) this.early.push(new Uint8Array(data));
      return;
    }
    for (const l of [...this.inputListeners]) l(new Uint8Array(data));
  };
  private readonly onHandleError = (raw: unknown) => {
    if (this.closed_) return;
    const err = hidIoError(this.info.path, 'read failed', raw);
    const listeners = [...this.errorListeners];
    void this.close();
    for (const l of listeners) l(err);
  };

  constructor(
    private readonly handle: NodeHidHandle,
    readonly info: HidDeviceInfo,
  ) {
    handle.on('error', this.onHandleError);
    handle.on('data', this.onData);
  }

  get closed(): boolean {
    return this.closed_;
  }

  private guard(op: string): void {
    if (this.closed_) throw new UpsfleetError('HID_IO', `${op} on a closed device`, { path: this.info.path });
  }

  async reportDescriptor(): Promise<Uint8Array> {
    this.guard('reportDescriptor');
    const file = sysfsDescriptorPath(this.info.path);
    try {
      return new Uint8Array(await readFile(file));
    } catch (err) {
      throw new UpsfleetError(
        'HID_IO',
        `cannot read the report descriptor from ${file}: ${(err as Error).message}`,
        { file },
        { cause: err },
      );
    }
  }

  async getFeatureReport(reportId: number, length: number): Promise<Uint8Array> {
    this.guard('getFeatureReport');
    if (!Number.isInteger(length) || length < MIN_GET_REPORT_LENGTH) {
      throw new UpsfleetError(
        'HID_IO',
        `${this.info.path}: GET_REPORT ${reportId} needs a buffer of at least ${MIN_GET_REPORT_LENGTH} bytes, not ${length}`,
        { path: this.info.path, reportId, length },
      );
    }
    try {
      return new Uint8Array(await this.handle.getFeatureReport(reportId, length));
    } catch (err) {
      throw hidIoError(this.info.path, `GET_REPORT ${reportId} failed`, err, { reportId });
    }
  }

  async sendFeatureReport(report: Uint8Array): Promise<void> {
    this.guard('sendFeatureReport');
    try {
      await this.handle.sendFeatureReport(Buffer.from(report));
    } catch (err) {
      throw hidIoError(this.info.path, `SET_REPORT ${report[0]} failed`, err, { reportId: report[0] });
    }
  }

  onInput(listener: InputListener): () => void {
    this.inputListeners.add(listener);
    // What a UPS sent when it was opened (many report their state then) reaches the first listener.
    const early = this.early.splice(0);
    if (early.length > 0)
      setImmediate(() => {
        for (const report of early) if (!this.closed_ && this.inputListeners.has(listener)) listener(report);
      });
    return () => this.inputListeners.delete(listener);
  }

  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed_) return;
    this.closed_ = true;
    this.inputListeners.clear();
    this.errorListeners.clear();
    this.early.length = 0;
    // Before the native close: node-hid's queued read start then sees no 'data' listener. The 'error'
    // listener stays (a no-op now) so a late error event never goes unhandled.
    this.handle.removeListener('data', this.onData);
    try {
      await this.handle.close();
    } catch {
      // Already gone (unplugged) or closed by node-hid: nothing left to release.
    }
  }
}
