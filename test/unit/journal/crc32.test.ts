/** The portable CRC-32 (for Node 18, which has no zlib.crc32) gives zlib's results, bytes beyond ASCII included. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as zlib from 'node:zlib';
import { crc32Portable } from '../../../master/journal/crc32.js';

it('matches zlib.crc32 on journal-like lines, empty and non-ASCII text', (t) => {
  const native = (zlib as { crc32?: (data: string) => number }).crc32;
  // known values first, so the test also means something where zlib has no crc32
  assert.equal(crc32Portable(''), 0);
  assert.equal(crc32Portable('123456789'), 0xcbf43926);
  if (typeof native !== 'function') {
    t.diagnostic('this Node.js has no zlib.crc32: checked against the known values only');
    return;
  }
  const samples = [
    '{"seq":1,"kind":"power","status":"OB LB"}',
    '{"seq":42,"kind":"order","member":"app1","reason":"Überspannung — ⚡ 電源"}',
    'x'.repeat(10_000),
  ];
  for (const s of samples) assert.equal(crc32Portable(s), native(s), s.slice(0, 40));
});
