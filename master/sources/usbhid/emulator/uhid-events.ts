/**
 * The Linux uhid protocol as bytes: `struct uhid_event` (linux/uhid.h) is a packed `__u32 type` followed by a
 * union whose largest member (`uhid_create2_req`) makes every event 4376 bytes. Pure encoders for what user
 * space writes to /dev/uhid and a decoder for what the kernel reads back; little-endian, as on every
 * architecture the emulator targets (x86-64, arm64).
 */
import { UpsfleetError } from '../../../../shared/errors.js';

export const UHID_DATA_MAX = 4096;
/** HID_MAX_DESCRIPTOR_SIZE: the largest report descriptor uhid accepts. */
export const UHID_DESCRIPTOR_MAX = 4096;
/** 4 (type) + 128 name + 64 phys + 64 uniq + 2 rd_size + 2 bus + 4*4 ids/version/country + 4096 rd_data. */
export const UHID_EVENT_SIZE = 4 + 128 + 64 + 64 + 2 + 2 + 16 + UHID_DESCRIPTOR_MAX;

export const UhidType = {
  DESTROY: 1,
  START: 2,
  STOP: 3,
  OPEN: 4,
  CLOSE: 5,
  OUTPUT: 6,
  GET_REPORT: 9,
  GET_REPORT_REPLY: 10,
  CREATE2: 11,
  INPUT2: 12,
  SET_REPORT: 13,
  SET_REPORT_REPLY: 14,
} as const;

/** enum uhid_report_type */
export const UhidReportType = { FEATURE: 0, OUTPUT: 1, INPUT: 2 } as const;
export type UhidReportTypeName = 'Feature' | 'Output' | 'Input';

/** linux/input.h bus types. */
export const BUS_USB = 0x03;

export interface UhidCreate {
  name: string;
  phys?: string;
  uniq?: string;
  descriptor: Uint8Array;
  bus?: number;
  vendor: number;
  product: number;
  version?: number;
  country?: number;
}

/** What the kernel sends to the device's user-space side. */
export type UhidKernelEvent =
  | { type: 'start'; devFlags: bigint }
  | { type: 'stop' }
  | { type: 'open' }
  | { type: 'close' }
  | { type: 'output'; reportType: UhidReportTypeName; data: Uint8Array }
  | { type: 'get-report'; id: number; reportNumber: number; reportType: UhidReportTypeName }
  | { type: 'set-report'; id: number; reportNumber: number; reportType: UhidReportTypeName; data: Uint8Array }
  | { type: 'unknown'; code: number };

function event(type: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(UHID_EVENT_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  return { bytes, view };
}

/** A NUL-terminated string field of `size` bytes, cut on a UTF-8 boundary so it always stays terminated. */
function putString(bytes: Uint8Array, offset: number, size: number, text: string): void {
  const encoded = new TextEncoder().encode(text);
  let length = Math.min(encoded.length, size - 1);
  while (length > 0 && length < encoded.length && ((encoded[length] ?? 0) & 0xc0) === 0x80) length--;
  bytes.set(encoded.subarray(0, length), offset);
}

function checkData(data: Uint8Array, what: string): void {
  if (data.length > UHID_DATA_MAX)
    throw new UpsfleetError(
      'HID_REPORT',
      `${what}: ${data.length} bytes, uhid carries at most ${UHID_DATA_MAX}`,
      {
        size: data.length,
      },
    );
}

/** UHID_CREATE2: name @4, phys @132, uniq @196, rd_size @260, bus @262, vendor @264, product @268, version @272, country @276, rd_data @280. */
export function encodeCreate2(req: UhidCreate): Uint8Array {
  if (req.descriptor.length === 0 || req.descriptor.length > UHID_DESCRIPTOR_MAX)
    throw new UpsfleetError(
      'HID_DESCRIPTOR',
      `report descriptor of ${req.descriptor.length} bytes: uhid takes 1 to ${UHID_DESCRIPTOR_MAX}`,
      { size: req.descriptor.length },
    );
  const { bytes, view } = event(UhidType.CREATE2);
  putString(bytes, 4, 128, req.name);
  putString(bytes, 132, 64, req.phys ?? '');
  putString(bytes, 196, 64, req.uniq ?? '');
  view.setUint16(260, req.descriptor.length, true);
  view.setUint16(262, req.bus ?? BUS_USB, true);
  view.setUint32(264, req.vendor, true);
  view.setUint32(268, req.product, true);
  view.setUint32(272, req.version ?? 0, true);
  view.setUint32(276, req.country ?? 0, true);
  bytes.set(req.descriptor, 280);
  return bytes;
}

export function encodeDestroy(): Uint8Array {
  return event(UhidType.DESTROY).bytes;
}

/** UHID_INPUT2: size @4, data @6. `data` starts with the report ID when the descriptor uses IDs. */
export function encodeInput2(data: Uint8Array): Uint8Array {
  checkData(data, 'input report');
  const { bytes, view } = event(UhidType.INPUT2);
  view.setUint16(4, data.length, true);
  bytes.set(data, 6);
  return bytes;
}

/** UHID_GET_REPORT_REPLY: id @4, err @8 (a positive errno, 0 = ok), size @10, data @12. */
export function encodeGetReportReply(
  id: number,
  err: number,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkData(data, 'GET_REPORT reply');
  const { bytes, view } = event(UhidType.GET_REPORT_REPLY);
  view.setUint32(4, id, true);
  view.setUint16(8, err, true);
  view.setUint16(10, err === 0 ? data.length : 0, true);
  if (err === 0) bytes.set(data, 12);
  return bytes;
}

/** UHID_SET_REPORT_REPLY: id @4, err @8. */
export function encodeSetReportReply(id: number, err: number): Uint8Array {
  const { bytes, view } = event(UhidType.SET_REPORT_REPLY);
  view.setUint32(4, id, true);
  view.setUint16(8, err, true);
  return bytes;
}

function reportTypeName(code: number): UhidReportTypeName {
  if (code === UhidReportType.FEATURE) return 'Feature';
  if (code === UhidReportType.OUTPUT) return 'Output';
  return 'Input';
}

/** Decodes one event read from /dev/uhid (the kernel may return fewer bytes: the rest reads as zeros). */
export function decodeKernelEvent(raw: Uint8Array): UhidKernelEvent {
  if (raw.length < 4)
    throw new UpsfleetError('HID_IO', `uhid event of ${raw.length} bytes is shorter than its type field`, {});
  const bytes = new Uint8Array(UHID_EVENT_SIZE);
  bytes.set(raw.subarray(0, UHID_EVENT_SIZE));
  const view = new DataView(bytes.buffer);
  const code = view.getUint32(0, true);
  switch (code) {
    case UhidType.START:
      return { type: 'start', devFlags: view.getBigUint64(4, true) };
    case UhidType.STOP:
      return { type: 'stop' };
    case UhidType.OPEN:
      return { type: 'open' };
    case UhidType.CLOSE:
      return { type: 'close' };
    case UhidType.OUTPUT: {
      // uhid_output_req: data[4096] @4, size @4100, rtype @4102
      const size = Math.min(view.getUint16(4 + UHID_DATA_MAX, true), UHID_DATA_MAX);
      return {
        type: 'output',
        reportType: reportTypeName(bytes[4 + UHID_DATA_MAX + 2] ?? 0),
        data: bytes.slice(4, 4 + size),
      };
    }
    case UhidType.GET_REPORT:
      // uhid_get_report_req: id @4, rnum @8, rtype @9
      return {
        type: 'get-report',
        id: view.getUint32(4, true),
        reportNumber: bytes[8] ?? 0,
        reportType: reportTypeName(bytes[9] ?? 0),
      };
    case UhidType.SET_REPORT: {
      // uhid_set_report_req: id @4, rnum @8, rtype @9, size @10, data @12
      const size = Math.min(view.getUint16(10, true), UHID_DATA_MAX);
      return {
        type: 'set-report',
        id: view.getUint32(4, true),
        reportNumber: bytes[8] ?? 0,
        reportType: reportTypeName(bytes[9] ?? 0),
        data: bytes.slice(12, 12 + size),
      };
    }
    default:
      return { type: 'unknown', code };
  }
}
