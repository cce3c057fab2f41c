/**
 * The agent's saved place in the shutdown order (<stateDir>/lost-master-delay.json): written atomically,
 * read back after a restart, a corrupt file reported and ignored, an unwritable state dir logged once and
 * never thrown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import {
  LOST_MASTER_DELAY_FILE,
  LOST_MASTER_DELAY_FORMAT,
  LostMasterDelayStore,
  type LostMasterPlace,
} from '../../../agent/lost-master-delay-store.js';
import { silentLogger } from '../../../shared/logger.js';

function capture() {
  const logged: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logged, logger };
}

const place: LostMasterPlace = {
  masterId: 'ups-server',
  group: 'db',
  step: 3,
  steps: 3,
  lostMasterDelayMs: 30_000,
};

test('a saved place is read back by a new store (an agent restarted while the master is down)', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'upsfleet-place-')), 'state'); // created on first save
  new LostMasterDelayStore(dir, silentLogger()).save(place, 1_700_000_000_000);
  const file = join(dir, LOST_MASTER_DELAY_FILE);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
    format: LOST_MASTER_DELAY_FORMAT,
    ...place,
    savedAt: 1_700_000_000_000,
  });
  assert.deepEqual(readdirSync(dir), [LOST_MASTER_DELAY_FILE], 'no temporary file left behind');
  const loaded = new LostMasterDelayStore(dir, silentLogger()).load();
  assert.deepEqual(loaded, { format: LOST_MASTER_DELAY_FORMAT, ...place, savedAt: 1_700_000_000_000 });
});

test('the same place again is not rewritten; a new one is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-place-'));
  const store = new LostMasterDelayStore(dir, silentLogger());
  store.save(place, 1);
  store.save(place, 2); // a reconnect to the same master
  const file = join(dir, LOST_MASTER_DELAY_FILE);
  assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { savedAt: number }).savedAt, 1);
  store.save({ ...place, step: 2, lostMasterDelayMs: 15_000 }, 3);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
    format: LOST_MASTER_DELAY_FORMAT,
    ...place,
    step: 2,
    lostMasterDelayMs: 15_000,
    savedAt: 3,
  });
});

test('no file yet: nothing to restore, nothing reported', () => {
  const { logged, logger } = capture();
  const store = new LostMasterDelayStore(mkdtempSync(join(tmpdir(), 'upsfleet-place-')), logger);
  assert.equal(store.load(), null);
  assert.deepEqual(logged, []);
});

for (const [what, content] of [
  ['torn JSON', '{"format":"upsfleet-lost-master-delay/1","masterId":"ups-ser'],
  [
    'a negative delay',
    JSON.stringify({ format: LOST_MASTER_DELAY_FORMAT, ...place, lostMasterDelayMs: -1, savedAt: 1 }),
  ],
  ['another format', JSON.stringify({ format: 'something-else/9', ...place, savedAt: 1 })],
  ['not an object', '42'],
] as const) {
  test(`a corrupt file (${what}) is reported with its path and ignored`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-place-'));
    const file = join(dir, LOST_MASTER_DELAY_FILE);
    writeFileSync(file, content);
    const { logged, logger } = capture();
    const store = new LostMasterDelayStore(dir, logger);
    assert.equal(store.load(), null);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, 40);
    assert.equal(logged[0]!.code, 'AGENT_STATE_UNREADABLE');
    assert.equal(logged[0]!.path, file);
    // the next welcome replaces it
    store.save(place, 5);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { step: number }).step, 3);
  });
}

test('an unwritable state dir never throws and is logged once, with path and errno', () => {
  const base = mkdtempSync(join(tmpdir(), 'upsfleet-place-'));
  // a regular file where the state dir should be: ENOTDIR even for root, unlike a chmod
  const blocker = join(base, 'not-a-dir');
  writeFileSync(blocker, '');
  const dir = join(blocker, 'state');
  const { logged, logger } = capture();
  const store = new LostMasterDelayStore(dir, logger);
  assert.doesNotThrow(() => store.save(place, 1));
  assert.doesNotThrow(() => store.save({ ...place, step: 2 }, 2));
  assert.doesNotThrow(() => store.save({ ...place, step: 1 }, 3));
  const errors = logged.filter((l) => l.level === 50);
  assert.equal(errors.length, 1, 'one error for a disk that keeps failing');
  assert.equal(errors[0]!.code, 'AGENT_STATE_WRITE_FAILED');
  assert.equal(errors[0]!.path, join(dir, LOST_MASTER_DELAY_FILE));
  assert.equal(errors[0]!.errno, 'ENOTDIR');
  assert.equal(store.load(), null);
});
