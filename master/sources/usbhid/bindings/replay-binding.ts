/**
 * A HidBinding that serves a capture file instead of a USB device: the real descriptor and the real
 * GET_REPORT answers, answered on the next tick like the real thing, and the capture's interrupt reports
 * sent to each new input listener. Tests drive it: `emitInput(hex)` injects
 * an interrupt report, `setFeatureReport` changes what GET_REPORT returns, `unplug()`/`replug()` simulate
 * the cable, and `recording` keeps every SET_REPORT for assertions.
 */
import { UpsfleetError } from '../../../../shared/errors.js';
import type { Capture } from '../capture-file.js';
import { bytesToHex, hexToBytes } from '../hid/hex.js';
import { topLevelUsagePage } from '../hid/power-device-pages.js';
import type { ErrorListener, HidBinding, HidDevice, HidDeviceInfo, InputListener } from './hid-binding.js';
import { hidIoError, MIN_GET_REPORT_LENGTH } from './hid-binding.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface RecordedReport {
  reportId: number;
  hex: string;
  bytes: Uint8Array;
}

export class ReplayBinding implements HidBinding {
  readonly info: HidDeviceInfo;
  /** Every sendFeatureReport, in order. */
  readonly recording: RecordedReport[] = [];
  private readonly descriptor: Uint8Array;
  private readonly features = new Map<number, Uint8Array>();
  private readonly inputs: Uint8Array[];
  private plugged = true;
  private readonly open_ = new Set<ReplayDevice>();

  /**
   * `usagePage` is what the listing reports: by default, like hidapi on hidraw, the page of the descriptor's
   * first top-level collection; `null` lists none (as backends that do not know it).
   */
  constructor(capture: Capture, path = '/dev/hidraw-replay0', opts: { usagePage?: number | null } = {}) {
    const { vendorId, productId, manufacturer, product, serialNumber } = capture.device;
    this.descriptor = hexToBytes(capture.reportDescriptor);
    const usagePage = opts.usagePage === undefined ? topLevelUsagePage(this.descriptor) : opts.usagePage;
    this.info = {
      path,
      vendorId,
      productId,
      manufacturer,
      product,
      ...(serialNumber ? { serialNumber } : {}),
      ...(usagePage !== null && usagePage !== undefined ? { usagePage } : {}),
    };
    for (const [id, hex] of Object.entries(capture.featureReports))
      this.features.set(Number(id), hexToBytes(hex));
    this.inputs = (capture.inputReports ?? []).map((hex) => hexToBytes(hex));
  }

  async list(): Promise<HidDeviceInfo[]> {
    await tick();
    return this.plugged ? [{ ...this.info }] : [];
  }

  async open(path: string): Promise<HidDevice> {
    await tick();
    if (!this.plugged || path !== this.info.path) {
      throw new UpsfleetError('HID_NO_DEVICE', `no HID device at ${path}`, { path });
    }
    const device = new ReplayDevice(this);
    this.open_.add(device);
    return device;
  }

  /** Changes what GET_REPORT returns for a report (hex, first byte = report ID). */
  setFeatureReport(hex: string): void {
    const bytes = hexToBytes(hex);
    this.features.set(bytes[0] ?? 0, bytes);
  }

  /** The device stops answering GET_REPORT for a report ID (as firmware that refuses one). */
  stopAnswering(reportId: number): void {
    this.features.delete(reportId);
  }

  /** Delivers an interrupt-IN report (hex, first byte = report ID) to every open device. */
  emitInput(hex: string): void {
    const bytes = hexToBytes(hex);
    for (const d of this.open_) d.deliver(bytes);
  }

  /** The cable is pulled: open devices fail and close, list() is empty, open() rejects. */
  unplug(): void {
    this.plugged = false;
    for (const d of [...this.open_]) d.fail(hidIoError(this.info.path, 'read failed', 'device disconnected'));
  }

  replug(): void {
    this.plugged = true;
  }

  get isPlugged(): boolean {
    return this.plugged;
  }

  /** @internal */
  forget(device: ReplayDevice): void {
    this.open_.delete(device);
  }

  /** @internal The capture's interrupt reports, which the device keeps sending like a real UPS. */
  capturedInputs(): Uint8Array[] {
    return this.inputs.map((b) => Uint8Array.from(b));
  }

  /** @internal */
  descriptorBytes(): Uint8Array {
    return Uint8Array.from(this.descriptor);
  }

  /** @internal */
  featureBytes(reportId: number): Uint8Array | undefined {
    const b = this.features.get(reportId);
    return b && Uint8Array.from(b);
  }

  /** @internal */
  record(bytes: Uint8Array): void {
    this.recording.push({ reportId: bytes[0] ?? 0, hex: bytesToHex(bytes), bytes: Uint8Array.from(bytes) });
    this.features.set(bytes[0] ?? 0, Uint8Array.from(bytes));
  }
}

class ReplayDevice implements HidDevice {
  private readonly inputListeners = new Set<InputListener>();
  private readonly errorListeners = new Set<ErrorListener>();
  private closed_ = false;

  constructor(private readonly binding: ReplayBinding) {}

  get info(): HidDeviceInfo {
    return { ...this.binding.info };
  }

  get closed(): boolean {
    return this.closed_;
  }

  private async ready(op: string): Promise<void> {
    await tick();
    if (this.closed_)
      throw new UpsfleetError('HID_IO', `${op} on a closed device`, { path: this.binding.info.path });
    if (!this.binding.isPlugged)
      throw new UpsfleetError('HID_IO', `${op}: device disconnected`, { path: this.binding.info.path });
  }

  async reportDescriptor(): Promise<Uint8Array> {
    await this.ready('reportDescriptor');
    return this.binding.descriptorBytes();
  }

  async getFeatureReport(reportId: number, length: number): Promise<Uint8Array> {
    await this.ready('getFeatureReport');
    const path = this.binding.info.path;
    // Like hidraw: a buffer shorter than the report-ID byte plus one is refused (EINVAL).
    if (!Number.isInteger(length) || length < MIN_GET_REPORT_LENGTH)
      throw hidIoError(
        path,
        `GET_REPORT ${reportId} failed`,
        'Invalid argument (buffer shorter than 2 bytes)',
        {
          reportId,
          length,
        },
      );
    const bytes = this.binding.featureBytes(reportId);
    if (!bytes) throw hidIoError(path, `GET_REPORT ${reportId} failed`, 'not answered', { reportId });
    // Like hidraw: at most `length` bytes come back.
    return bytes.slice(0, length);
  }

  async sendFeatureReport(report: Uint8Array): Promise<void> {
    await this.ready('sendFeatureReport');
    if (report.length === 0) throw new UpsfleetError('HID_IO', 'empty feature report', {});
    this.binding.record(report);
  }

  onInput(listener: InputListener): () => void {
    this.inputListeners.add(listener);
    // A UPS keeps sending its interrupt reports: a new reader gets the capture's, on the next tick.
    const captured = this.binding.capturedInputs();
    if (captured.length > 0)
      setImmediate(() => {
        for (const bytes of captured)
          if (!this.closed_ && this.binding.isPlugged && this.inputListeners.has(listener)) listener(bytes);
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
    this.binding.forget(this);
    this.inputListeners.clear();
    this.errorListeners.clear();
  }

  /** @internal */
  deliver(bytes: Uint8Array): void {
    if (this.closed_) return;
    for (const l of this.inputListeners) l(Uint8Array.from(bytes));
  }

  /** @internal */
  fail(err: Error): void {
    const listeners = [...this.errorListeners];
    void this.close();
    for (const l of listeners) l(err);
  }
}
