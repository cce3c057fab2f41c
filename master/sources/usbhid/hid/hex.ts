/** Hex text <-> bytes, the form captures and logs use. Whitespace and `0x`-less pairs only. */
import { type ErrorCode, UpsfleetError } from '../../../../shared/errors.js';

export function bytesToHex(bytes: Uint8Array | readonly number[]): string {
  let out = '';
  for (const b of bytes) out += (b & 0xff).toString(16).padStart(2, '0');
  return out;
}

/** Parses hex such as `0c640000` or `0c 64 00 00`; throws `code` (HID_CAPTURE by default) when it is not hex. */
export function hexToBytes(text: string, code: ErrorCode = 'HID_CAPTURE', where = 'hex'): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new UpsfleetError(code, `${where}: not an even number of hex digits`, { where });
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}
