/**
 * A journal write at the file-descriptor limit (test/fault/fd-exhaustion.test.ts): the journal's first write
 * needs to open its file; with every descriptor taken (/dev/null opened until EMFILE) it must degrade as it
 * does on a full disk (kept in memory, one loud error, retried), then write once descriptors are back.
 * Prints its status in each phase as JSON lines on stdout, beside the journal's own log lines.
 * Argument: the journal file.
 */
import { closeSync, openSync } from 'node:fs';
import { pino } from 'pino';
import { Journal } from '../../master/journal/journal.js';
import { systemClock } from '../../shared/clock.js';

const logger = pino({ level: 'info' });
const journal = new Journal<number>({
  file: process.argv[2]!,
  clock: systemClock,
  logger,
  initial: 0,
  reduce: (n) => n + 1,
});
journal.open();

const hoard: number[] = [];
try {
  for (;;) hoard.push(openSync('/dev/null', 'r'));
} catch (err) {
  logger.info({ phase: 'exhausted', errno: (err as NodeJS.ErrnoException).code }, 'fds taken');
}
journal.write({ kind: 'critical', ts: Date.now(), reason: 'written at the fd limit' });
logger.info({ phase: 'after-write', status: journal.status(), state: journal.state }, 'journal status');

for (const fd of hoard.splice(0)) closeSync(fd);
await new Promise((r) => setTimeout(r, 2_500)); // the journal retries every 2 s
logger.info({ phase: 'released', status: journal.status() }, 'journal status');
journal.close();
