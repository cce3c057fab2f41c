/**
 * Reads the journal back on start: every kept segment, oldest first, each line checked. A bad line in
 * the middle is skipped and reported; a bad last line (a write torn by a crash or a full disk) is the
 * torn tail: reported with its offset and cut off the current segment so the next append starts clean.
 */
import { existsSync, readFileSync, truncateSync } from 'node:fs';
import { decodeLine, type StoredRecord } from './journal-line.js';

export interface JournalProblem {
  file: string;
  /** Byte offset of the bad line in its file. */
  offset: number;
  why: string;
  /** The last line of the current segment: cut off by `repair`. */
  tail: boolean;
}

export interface JournalContents {
  records: StoredRecord[];
  problems: JournalProblem[];
  /** Size of the current segment after the repair. */
  currentSize: number;
}

/** `journal.jsonl` is current; `journal.1.jsonl` the one before it, and so on. */
export function segmentPath(current: string, n: number): string {
  return n === 0 ? current : current.replace(/(\.jsonl)?$/, `.${n}.jsonl`);
}

function readSegment(file: string, isCurrent: boolean, out: JournalContents): number {
  const bytes = readFileSync(file);
  let offset = 0;
  let goodEnd = 0;
  while (offset < bytes.length) {
    const nl = bytes.indexOf(0x0a, offset);
    const end = nl < 0 ? bytes.length : nl;
    const line = bytes.subarray(offset, end).toString('utf8');
    const last = nl < 0 || nl === bytes.length - 1;
    if (line.trim() !== '') {
      const decoded = nl < 0 ? { ok: false as const, why: 'no newline (torn write)' } : decodeLine(line);
      if (decoded.ok) {
        out.records.push(decoded.record);
        goodEnd = end + 1;
      } else {
        out.problems.push({ file, offset, why: decoded.why, tail: isCurrent && last });
      }
    } else if (nl >= 0) goodEnd = end + 1;
    offset = end + 1;
  }
  return goodEnd;
}

/**
 * Reads segments `keep`..1 then the current one. With `repair`, a torn tail of the current segment is
 * truncated away (the record was never complete, so nothing that happened is lost by cutting it).
 */
export function readJournal(current: string, keep: number, repair: boolean): JournalContents {
  const out: JournalContents = { records: [], problems: [], currentSize: 0 };
  for (let n = keep; n >= 1; n--) {
    const file = segmentPath(current, n);
    if (existsSync(file)) readSegment(file, false, out);
  }
  if (!existsSync(current)) return out;
  const goodEnd = readSegment(current, true, out);
  const size = readFileSync(current).length;
  out.currentSize = size;
  if (repair && out.problems.some((p) => p.tail) && goodEnd < size) {
    truncateSync(current, goodEnd);
    out.currentSize = goodEnd;
  }
  return out;
}
