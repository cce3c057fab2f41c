/**
 * CRC-32 (IEEE 802.3, as zip and zlib compute it) of a string's UTF-8 bytes. Node's own `zlib.crc32` arrived
 * in Node 20.15; the one-file master also runs on Debian 12's Node 18, where this table-driven version
 * stands in with the same results.
 */
import * as zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The portable version (exported for the test that holds it to zlib's). */
export function crc32Portable(text: string): number {
  let c = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) c = TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: string) => number }).crc32;

export const crc32: (text: string) => number = typeof native === 'function' ? native : crc32Portable;
