/**
 * One journal line: the record as a JSON object with its sequence number first and a CRC-32 of the rest
 * last (`{"seq":7,"kind":...,"crc":"1a2b3c4d"}`). Readers that only want the fields can JSON.parse a
 * line as it is; the journal itself checks the CRC, so a torn or bit-flipped line is never believed.
 */
import { crc32 } from './crc32.js';

export type JournalRecord = Record<string, unknown> & { kind: string };

export interface StoredRecord extends JournalRecord {
  seq: number;
}

const CRC_TAIL = /,"crc":"([0-9a-f]{8})"\}$/;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** The line for a record (with its newline). */
export function encodeLine(seq: number, record: JournalRecord): string {
  const { seq: _ignored, crc: _old, ...fields } = record as Record<string, unknown>;
  const body = JSON.stringify({ seq, ...fields });
  return `${body.slice(0, -1)},"crc":"${hex8(crc32(body))}"}\n`;
}

export type DecodedLine = { ok: true; record: StoredRecord } | { ok: false; why: string };

/** Checks one line (without its newline). */
export function decodeLine(line: string): DecodedLine {
  const m = CRC_TAIL.exec(line);
  if (!m) return { ok: false, why: 'no checksum (torn or not a journal line)' };
  const body = `${line.slice(0, m.index)}}`;
  if (hex8(crc32(body)) !== m[1]) return { ok: false, why: 'checksum mismatch' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  const rec = parsed as Partial<StoredRecord>;
  if (typeof rec !== 'object' || rec === null || typeof rec.seq !== 'number' || typeof rec.kind !== 'string')
    return { ok: false, why: 'no seq or kind' };
  return { ok: true, record: rec as StoredRecord };
}
