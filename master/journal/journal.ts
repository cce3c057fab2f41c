/**
 * The journal: the master's memory. One checksummed JSON line per decision, appended and fsynced before
 * the decision reaches the fleet. The same reducer folds every record into the recovered state, live and
 * on start, so what a restarted master believes is exactly what the running one had written.
 *
 * A write that fails (ENOSPC, EIO, a read-only remount) never stops the caller: the record is kept in
 * memory (bounded), one loud error names the path and errno (repeated at most once a minute), `status()`
 * says so, and the pending records are written as soon as the disk takes them again. Segments are cut at
 * a size bound; a new segment starts with a checkpoint of the folded state, so dropping the oldest
 * segment never drops the outage in progress.
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { encodeLine, type JournalRecord, type StoredRecord } from './journal-line.js';
import { type JournalProblem, readJournal, segmentPath } from './journal-reader.js';

export interface JournalOptions<S> {
  file: string;
  clock: Clock;
  logger: Logger;
  /** The state before any record, and the fold of one record into it. */
  initial: S;
  reduce: (state: S, record: StoredRecord) => S;
  /** Cut a new segment once the current one is this large. */
  maxBytes?: number;
  /** Older segments kept besides the current one. */
  keepSegments?: number;
  /** Records held in memory while the disk refuses them. */
  maxPending?: number;
  /** Called after each record was handed to the file (failpoints). */
  afterWrite?: (record: StoredRecord) => void;
}

export interface JournalStatus {
  file: string;
  ok: boolean;
  /** The last write error while degraded. */
  error: { code: string; message: string; since: number } | null;
  /** Records waiting for the disk. */
  pending: number;
  /** Records dropped because even the memory bound was reached (0 in any sane outage). */
  dropped: number;
  writeFailures: number;
  recordsWritten: number;
  /** Lines found bad on start (torn tail, corrupt records), each with file and offset. */
  problems: JournalProblem[];
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_KEEP_SEGMENTS = 2;
const DEFAULT_MAX_PENDING = 100_000;
/** Records kept in memory for readers of the recent past (the dashboard's journal view). */
const RECENT_KEPT = 200;
const RETRY_MS = 2_000;
const LOUD_REPEAT_MS = 60_000;

export class Journal<S> {
  readonly file: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly maxPending: number;
  private fd: number | null = null;
  private size = 0;
  private seq = 0;
  private folded: S;
  private readonly pending: string[] = [];
  private batchDepth = 0;
  private unsynced = false;
  private retry: TimerHandle | null = null;
  private lastLoudAt: number | null = null;
  private opened = false;
  private rotating = false;
  private readonly st: JournalStatus;
  private readonly recentRecords: StoredRecord[] = [];
  private readonly listeners = new Set<(record: StoredRecord) => void>();

  constructor(private readonly opts: JournalOptions<S>) {
    this.file = opts.file;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.keep = opts.keepSegments ?? DEFAULT_KEEP_SEGMENTS;
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.folded = opts.initial;
    this.st = {
      file: opts.file,
      ok: true,
      error: null,
      pending: 0,
      dropped: 0,
      writeFailures: 0,
      recordsWritten: 0,
      problems: [],
    };
  }

  /**
   * Reads what is on disk (every kept segment), repairs a torn tail, folds every good record and
   * returns the recovered state. Bad lines are reported once each, with file and offset.
   */
  open(): S {
    if (this.opened) return this.folded;
    this.opened = true;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const contents = readJournal(this.file, this.keep, true);
      this.size = contents.currentSize;
      this.st.problems = contents.problems;
      for (const p of contents.problems) {
        this.opts.logger.error(
          { code: 'JOURNAL_CORRUPT', file: p.file, offset: p.offset, why: p.why, tail: p.tail },
          p.tail ? 'journal: torn tail cut off' : 'journal: corrupt record skipped',
        );
      }
      for (const r of contents.records) {
        this.seq = Math.max(this.seq, r.seq);
        this.folded = this.opts.reduce(this.folded, r);
        this.remember(r);
      }
    } catch (err) {
      // an unreadable journal must not keep the master from protecting the fleet: start from nothing
      this.opts.logger.error(
        { code: 'JOURNAL_UNREADABLE', err, file: this.file },
        'journal cannot be read: starting without memory of earlier runs',
      );
    }
    return this.folded;
  }

  /** The state folded over every record so far. */
  get state(): S {
    return this.folded;
  }

  /**
   * Appends one record and makes it durable (fsync) before returning, unless inside `batch`, which
   * syncs once at its end. Never throws because of the disk.
   */
  write(record: JournalRecord): StoredRecord {
    if (!this.opened) this.open();
    const stored = { ...record, seq: ++this.seq } as StoredRecord;
    this.folded = this.opts.reduce(this.folded, stored);
    this.enqueue(encodeLine(stored.seq, stored));
    this.flush();
    this.opts.afterWrite?.(stored);
    this.remember(stored);
    for (const l of this.listeners) {
      try {
        l(stored);
      } catch (err) {
        // a reader (the dashboard) never disturbs the decision it reads
        this.opts.logger.warn({ err, kind: stored.kind }, 'journal listener failed');
      }
    }
    return stored;
  }

  /** The last records (up to 200, oldest first), those read on start included. */
  recent(): StoredRecord[] {
    return [...this.recentRecords];
  }

  /** Calls `listener` with each record once it is written (after its fsync, or kept while degraded). */
  subscribe(listener: (record: StoredRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private remember(record: StoredRecord): void {
    this.recentRecords.push(record);
    if (this.recentRecords.length > RECENT_KEPT) this.recentRecords.shift();
  }

  /** Runs `fn` with one fsync at its end for every record it writes (a step ordering many members). */
  batch<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.flush();
    }
  }

  status(): JournalStatus {
    return { ...this.st, pending: this.pending.length, problems: [...this.st.problems] };
  }

  close(): void {
    this.retry?.cancel();
    this.retry = null;
    this.flush();
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // closing a file we could not write to may fail the same way: nothing more to do
      }
      this.fd = null;
    }
  }

  private enqueue(line: string): void {
    if (this.pending.length >= this.maxPending) {
      this.pending.shift();
      this.st.dropped++;
    }
    this.pending.push(line);
  }

  private flush(): void {
    while (this.pending.length > 0) {
      const line = this.pending[0]!;
      try {
        this.append(line);
      } catch (err) {
        this.degrade(err as NodeJS.ErrnoException);
        return;
      }
      this.pending.shift();
      this.st.recordsWritten++;
    }
    if (this.batchDepth > 0) return;
    if (this.unsynced) {
      try {
        fsyncSync(this.fd!);
        this.unsynced = false;
      } catch (err) {
        this.degrade(err as NodeJS.ErrnoException);
        return;
      }
    }
    if (!this.st.ok) this.recovered();
    if (this.size >= this.maxBytes && !this.rotating) this.rotate();
  }

  private append(line: string): void {
    if (this.fd === null) this.fd = openSync(this.file, 'a', 0o640);
    const buf = Buffer.from(line);
    try {
      let done = 0;
      while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    } catch (err) {
      // a partial line would tear the next one: cut back to the last whole record
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // the reader repairs a torn tail on the next start anyway
      }
      throw err;
    }
    this.size += buf.length;
    this.unsynced = true;
  }

  private degrade(err: NodeJS.ErrnoException): void {
    const now = this.opts.clock.now();
    this.st.writeFailures++;
    const code = err.code ?? 'EIO';
    const wasOk = this.st.ok;
    this.st.ok = false;
    this.st.error = { code, message: err.message, since: this.st.error?.since ?? now };
    if (wasOk || this.lastLoudAt === null || now - this.lastLoudAt >= LOUD_REPEAT_MS) {
      this.lastLoudAt = now;
      this.opts.logger.error(
        { code: 'JOURNAL_WRITE_FAILED', errno: code, file: this.file, pending: this.pending.length, err },
        'journal write failed: decisions are kept in memory and in this log until the disk takes them again; the shutdown goes on',
      );
    }
    if (!this.retry) {
      this.retry = this.opts.clock.setTimer(RETRY_MS, () => {
        this.retry = null;
        this.flush();
      });
    }
  }

  private recovered(): void {
    const since = this.st.error?.since ?? null;
    this.st.ok = true;
    this.st.error = null;
    this.retry?.cancel();
    this.retry = null;
    this.opts.logger.warn(
      { file: this.file, failedSince: since, dropped: this.st.dropped },
      'journal writes again: every pending record is on disk',
    );
  }

  /** Cuts a new segment that begins with the folded state, then drops segments beyond `keep`. */
  private rotate(): void {
    try {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
      rmSync(segmentPath(this.file, this.keep), { force: true });
      for (let n = this.keep - 1; n >= 1; n--) {
        try {
          renameSync(segmentPath(this.file, n), segmentPath(this.file, n + 1));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      if (this.keep >= 1) renameSync(this.file, segmentPath(this.file, 1));
      else rmSync(this.file, { force: true });
      this.size = 0;
    } catch (err) {
      this.opts.logger.error(
        { err, file: this.file },
        'journal rotation failed: the current segment grows on',
      );
      return;
    }
    const seq = ++this.seq;
    const checkpoint = { kind: 'checkpoint', ts: this.opts.clock.now(), state: this.folded, seq };
    this.enqueue(encodeLine(seq, checkpoint));
    this.rotating = true;
    try {
      this.flush();
    } finally {
      this.rotating = false;
    }
  }
}
