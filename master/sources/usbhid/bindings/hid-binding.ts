/**
 * The hardware seam: everything the usbhid source needs from the operating system, and nothing more.
 * The real binding (node-hid + sysfs) and the replay binding (a capture file) both implement it, and a
 * single contract suite (test/unit/hid/binding-contract.test.ts) holds them to the same behaviour.
 */
import { UpsfleetError } from '../../../../shared/errors.js';

export interface HidDeviceInfo {
  /** Opaque path for `open`, e.g. /dev/hidraw0. */
  path: string;
  /** 4 lower-case hex digits. */
  vendorId: string;
  productId: string;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  /** HID usage page of the top-level collection when the OS reports it (0x84 for a UPS). */
  usagePage?: number;
}

export type InputListener = (report: Uint8Array) => void;
export type ErrorListener = (err: Error) => void;

export interface HidDevice {
  readonly info: HidDeviceInfo;
  /** The HID report descriptor bytes. */
  reportDescriptor(): Promise<Uint8Array>;
  /**
   * GET_REPORT(Feature); the result starts with the report ID when the device uses IDs. `length` is at
   * least MIN_GET_REPORT_LENGTH (hidraw refuses shorter buffers with EINVAL; both bindings reject HID_IO).
   */
  getFeatureReport(reportId: number, length: number): Promise<Uint8Array>;
  /** SET_REPORT(Feature); `report[0]` is the report ID. */
  sendFeatureReport(report: Uint8Array): Promise<void>;
  /** Interrupt-IN reports as they arrive. Returns an unsubscribe function. */
  onInput(listener: InputListener): () => void;
  /**
   * Device errors (unplug, I/O failure) outside a pending call, always an UpsfleetError HID_IO with a
   * readable reason; the device is closed when the listeners run. Returns an unsubscribe function.
   */
  onError(listener: ErrorListener): () => void;
  /** Idempotent. Every other call on a closed device rejects with HID_IO. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface HidBinding {
  list(): Promise<HidDeviceInfo[]>;
  /** Rejects HID_NO_DEVICE when the path is gone, HID_PERMISSION when the OS refuses. */
  open(path: string): Promise<HidDevice>;
}

export interface DeviceSelector {
  vendorId?: string;
  productId?: string;
  serial?: string;
  path?: string;
}

/** Every listed device the selector accepts (all fields optional; ids compared case-insensitively). */
export function selectDevices(devices: HidDeviceInfo[], selector: DeviceSelector): HidDeviceInfo[] {
  const norm = (s: string | undefined) => s?.toLowerCase().replace(/^0x/, '').padStart(4, '0');
  return devices.filter(
    (d) =>
      (selector.path === undefined || d.path === selector.path) &&
      (selector.vendorId === undefined || d.vendorId === norm(selector.vendorId)) &&
      (selector.productId === undefined || d.productId === norm(selector.productId)) &&
      (selector.serial === undefined || d.serialNumber?.trim() === selector.serial.trim()),
  );
}

export function hex4(n: number): string {
  return (n & 0xffff).toString(16).padStart(4, '0');
}

/** hidraw refuses GET_REPORT buffers shorter than this (EINVAL): the report-ID byte plus one. */
export const MIN_GET_REPORT_LENGTH = 2;

/** Whatever node-hid handed over (an Error, a string, nothing) as words a log reader understands. */
export function hidReason(raw: unknown): string {
  if (raw instanceof Error && raw.message) return raw.message;
  if (typeof raw === 'string' && raw.trim() !== '') return raw.trim();
  if (raw !== null && typeof raw === 'object' && typeof (raw as { message?: unknown }).message === 'string')
    return (raw as { message: string }).message;
  return 'the device stopped answering (unplugged?)';
}

/** A node-hid failure as our coded error: `HID_IO`, the path, and a readable reason. */
export function hidIoError(path: string, what: string, raw: unknown, details: Record<string, unknown> = {}) {
  const reason = hidReason(raw);
  return new UpsfleetError(
    'HID_IO',
    `${path}: ${what}: ${reason}`,
    { path, reason, ...details },
    raw instanceof Error ? { cause: raw } : {},
  );
}
