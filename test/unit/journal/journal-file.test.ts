/**
 * The journal on disk: checksummed lines, a torn tail cut and reported with its offset, a corrupt line
 * skipped, segments cut at a size bound without losing the outage in progress (the checkpoint), and a
 * full disk (a real tmpfs, as root) that degrades to memory and catches up when room returns.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Journal } from '../../../master/journal/journal.js';
import { decodeLine, encodeLine } from '../../../master/journal/journal-line.js';
import { readJournal } from '../../../master/journal/journal-reader.js';
import {
  emptyRecoveredState,
  type RecoveredState,
  reduceRecovered,
} from '../../../master/journal/recovery.js';
import { ManualClock } from '../../../shared/clock.js';
import { type Logger, silentLogger } from '../../../shared/logger.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-journal-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A logger that keeps what it was given (object first), for asserting on fields. */
function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = silentLogger();
  const keep = (level: string) => (obj: unknown, msg?: string) => {
    lines.push({ level, ...(typeof obj === 'object' ? (obj as object) : { msg: obj }), msg });
  };
  Object.assign(logger, { error: keep('error'), warn: keep('warn'), info: keep('info') });
  return { logger, lines };
}

function journalAt(file: string, clock: ManualClock, logger: Logger = silentLogger(), maxBytes?: number) {
  return new Journal<RecoveredState>({
    file,
    clock,
    logger,
    initial: emptyRecoveredState(),
    reduce: reduceRecovered,
    ...(maxBytes ? { maxBytes } : {}),
  });
}

describe('journal lines', () => {
  it('round-trips and rejects a flipped byte or a cut line', () => {
    const line = encodeLine(7, { kind: 'status', status: 'OB DISCHRG', ts: 1 }).trimEnd();
    const ok = decodeLine(line);
    assert.ok(ok.ok && ok.record.seq === 7 && ok.record.status === 'OB DISCHRG');
    assert.equal(JSON.parse(line).kind, 'status', 'still a plain JSON line for readers');
    assert.equal(decodeLine(line.replace('OB', 'OL')).ok, false);
    assert.equal(decodeLine(line.slice(0, -5)).ok, false);
  });
});

describe('journal reading on start', () => {
  it('cuts a torn tail, reports it once with file and offset, and appends cleanly after it', () => {
    const file = join(root, 'torn', 'journal.jsonl');
    const clock = new ManualClock();
    const j1 = journalAt(file, clock);
    j1.open();
    j1.write({ kind: 'status', ts: 1, status: 'OB DISCHRG', onBatterySince: 1 });
    j1.write({ kind: 'critical', ts: 2, reason: 'LB' });
    j1.close();
    const goodSize = readFileSync(file).length;
    appendFileSync(file, '{"seq":3,"kind":"sequence","event":"sequence-st'); // the write a crash tore
    const { logger, lines } = recordingLogger();
    const j2 = journalAt(file, clock, logger);
    const state = j2.open();
    assert.equal(state.critical?.reason, 'LB', 'records before the tear are kept');
    const problems = j2.status().problems;
    assert.equal(problems.length, 1);
    assert.deepEqual(
      { file: problems[0]!.file, offset: problems[0]!.offset, tail: problems[0]!.tail },
      {
        file,
        offset: goodSize,
        tail: true,
      },
    );
    assert.equal(lines.filter((l) => l.code === 'JOURNAL_CORRUPT').length, 1, 'reported once');
    assert.equal(readFileSync(file).length, goodSize, 'the torn bytes are cut off');
    j2.write({ kind: 'early', ts: 3, group: 'lab' });
    j2.close();
    const again = readJournal(file, 2, false);
    assert.deepEqual(again.problems, []);
    assert.deepEqual(
      again.records.map((r) => r.seq),
      [1, 2, 3],
    );
  });

  it('skips a corrupt record in the middle and says where', () => {
    const file = join(root, 'corrupt', 'journal.jsonl');
    mkdirSync(join(root, 'corrupt'));
    const a = encodeLine(1, { kind: 'status', ts: 1, status: 'OB' });
    const b = encodeLine(2, { kind: 'critical', ts: 2, reason: 'x' }).replace('"x"', '"y"');
    const c = encodeLine(3, { kind: 'early', ts: 3, group: 'lab' });
    writeFileSync(file, a + b + c);
    const j = journalAt(file, new ManualClock());
    const state = j.open();
    assert.equal(state.critical, null, 'the bad record is not believed');
    assert.deepEqual(state.earlyFired, ['lab'], 'the records after it are');
    assert.deepEqual(
      j.status().problems.map((p) => ({ offset: p.offset, tail: p.tail, why: p.why })),
      [{ offset: a.length, tail: false, why: 'checksum mismatch' }],
    );
    j.close();
  });
});

describe('journal segments', () => {
  it('cuts segments at the size bound and keeps the outage in progress through a checkpoint', () => {
    const dir = join(root, 'rotate');
    const file = join(dir, 'journal.jsonl');
    const clock = new ManualClock();
    const j = journalAt(file, clock, silentLogger(), 4096);
    j.open();
    j.write({ kind: 'status', ts: clock.now(), status: 'OB DISCHRG', onBatterySince: clock.now() });
    j.write({ kind: 'critical', ts: clock.now(), reason: 'OB LB' });
    for (let i = 0; i < 400; i++)
      j.write({ kind: 'event', ts: clock.now() + i, event: 'COMMOK', message: 'x'.repeat(40) });
    j.close();
    assert.ok(existsSync(join(dir, 'journal.1.jsonl')) && existsSync(join(dir, 'journal.2.jsonl')));
    assert.ok(!existsSync(join(dir, 'journal.3.jsonl')), 'only two older segments are kept');
    const first = readJournal(file, 2, false).records[0]!;
    assert.notEqual(first.seq, 1, 'the oldest segments were dropped');
    const reopened = journalAt(file, clock).open();
    assert.equal(reopened.critical?.reason, 'OB LB', 'the outage survives the rotation');
    assert.equal(reopened.onBatterySince, clock.now());
  });
});

const asRoot = process.getuid?.() === 0;

describe('journal on a full disk (tmpfs)', { skip: asRoot ? false : 'needs root to mount a tmpfs' }, () => {
  it('degrades to memory with one loud error, never throws, and catches up when room returns', () => {
    const mnt = mkdtempSync(join(root, 'tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    try {
      const file = join(mnt, 'journal.jsonl');
      const clock = new ManualClock();
      const { logger, lines } = recordingLogger();
      const j = journalAt(file, clock, logger);
      j.open();
      j.write({ kind: 'status', ts: clock.now(), status: 'OB DISCHRG', onBatterySince: clock.now() });
      const filler = join(mnt, 'filler');
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=64'], { stdio: 'ignore' });
      } catch {
        // dd stops at ENOSPC: the disk is full now, which is the point
      }
      for (let i = 0; i < 50; i++)
        j.write({ kind: 'critical', ts: clock.now(), reason: `r${i}`, pad: 'y'.repeat(200) });
      const st = j.status();
      assert.equal(st.ok, false);
      assert.equal(st.error?.code, 'ENOSPC');
      assert.ok(st.pending > 0);
      assert.equal(j.state.critical?.reason, 'r0', 'the decision is still known in memory');
      const loud = lines.filter((l) => l.code === 'JOURNAL_WRITE_FAILED');
      assert.equal(loud.length, 1, 'one loud error, not one per record');
      assert.equal(loud[0]!.file, file);
      assert.equal(loud[0]!.errno, 'ENOSPC');
      rmSync(filler);
      clock.advance(2_000); // the retry timer
      const after = j.status();
      assert.equal(after.ok, true);
      assert.equal(after.pending, 0);
      j.close();
      const back = readJournal(file, 2, false);
      assert.deepEqual(back.problems, [], 'no torn line was left by the failed writes');
      assert.equal(back.records.length, 51, 'every record reached the disk, in order');
      assert.deepEqual(
        back.records.map((r) => r.seq),
        Array.from({ length: 51 }, (_, i) => i + 1),
      );
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
