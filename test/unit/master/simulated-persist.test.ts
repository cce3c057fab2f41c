/**
 * The simulated UPS with `persist: true` behaves like a real UPS across a crash of the master: a new
 * source on the same state dir goes on where the old one was. A crash is modelled by abandoning the
 * source (no stop) and starting a new one on a new ManualClock at the crash time plus the downtime,
 * so the old source's timers can never fire.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { createSource } from '../../../master/sources/create-source.js';
import { SIMULATED_COMMANDS_FILE } from '../../../master/sources/simulated/simulated-command-log.js';
import { SimulatedSource } from '../../../master/sources/simulated/simulated-source.js';
import { SIMULATED_STATE_FILE } from '../../../master/sources/simulated/simulated-state-file.js';
import { parseTimeline } from '../../../master/sources/simulated/timeline.js';
import { WRITE_FAILURE_LOG_INTERVAL_MS } from '../../../master/sources/simulated/write-failure-log.js';
import { ManualClock } from '../../../shared/clock.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'upsfleet-simulated-persist-'));
  dirs.push(d);
  return d;
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function captureLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, errors: () => lines.filter((l) => l.level >= 50) };
}

function recorder() {
  const updates: UpsVars[] = [];
  const comm: Array<[boolean, string]> = [];
  return {
    updates,
    comm,
    listener: {
      update: (v: UpsVars) => updates.push(v),
      comm: (ok: boolean, reason: string) => comm.push([ok, reason]),
    },
  };
}

/** Starts a persisting simulated UPS, as a master (re)start does. */
async function boot(
  stateDir: string,
  timeline: string,
  clock: ManualClock,
  logger = captureLogger().logger,
  extra: { loop?: boolean } = {},
) {
  const source = new SimulatedSource({
    upsName: 'ups',
    steps: parseTimeline(timeline),
    clock,
    logger,
    speed: 1,
    stateDir,
    ...extra,
  });
  const r = recorder();
  await source.start(r.listener);
  return { source, ...r };
}

/** kill -9 and start again `downMs` later: the old source is left as it was, its clock stops. */
function restartClock(crashed: ManualClock, downMs = 0): ManualClock {
  return new ManualClock(crashed.now() + downMs);
}

const LOW_BATTERY = 'ups.status: OB\nTIMER 10\nups.status: OB LB\n';

describe('simulated source with persist', () => {
  it('restores the variables instead of replaying the timeline from zero', async () => {
    const dir = tempDir();
    const timeline = 'ups.status: OL\nTIMER 5\nups.status: OB DISCHRG\nbattery.charge: 42\nTIMER 600\n';
    const clock = new ManualClock();
    const first = await boot(dir, timeline, clock);
    clock.advance(5_000);
    assert.equal(first.updates.at(-1)!['ups.status'], 'OB DISCHRG');

    const again = await boot(dir, timeline, restartClock(clock, 1_000));
    assert.equal(again.updates.length, 1, 'one snapshot at start, no replay of OL');
    assert.equal(again.updates[0]!['ups.status'], 'OB DISCHRG');
    assert.equal(again.updates[0]!['battery.charge'], '42');
  });

  it('continues the timeline with only what is left of the current TIMER', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const t0 = clock.now();
    await boot(dir, LOW_BATTERY, clock);
    clock.advance(4_000);

    const restarted = restartClock(clock);
    const again = await boot(dir, LOW_BATTERY, restarted);
    assert.equal(again.updates[0]!['ups.status'], 'OB');
    restarted.advance(5_999);
    assert.equal(again.updates.length, 1, 'no LB before t=10s');
    restarted.advance(1);
    assert.equal(restarted.now() - t0, 10_000);
    assert.equal(again.updates.at(-1)!['ups.status'], 'OB LB', 'LB at t=10s, not t=14s');
  });

  it('applies a step whose TIMER ended while the master was down as soon as it starts', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    await boot(dir, LOW_BATTERY, clock);
    clock.advance(4_000);

    const restarted = restartClock(clock, 8_000);
    const again = await boot(dir, LOW_BATTERY, restarted);
    restarted.advance(0);
    assert.equal(again.updates.at(-1)!['ups.status'], 'OB LB');
  });

  it('keeps the final state after the timeline ended, with nothing left to play', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    await boot(dir, LOW_BATTERY, clock);
    clock.advance(10_000);

    const restarted = restartClock(clock, 60_000);
    const again = await boot(dir, LOW_BATTERY, restarted);
    assert.deepEqual(
      again.updates.map((u) => u['ups.status']),
      ['OB LB'],
    );
    assert.equal(restarted.pendingTimers(), 0);
  });

  it('keeps a live setVariable across a restart without moving the timeline', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const t0 = clock.now();
    const first = await boot(dir, LOW_BATTERY, clock);
    clock.advance(2_000);
    await first.source.setVariable('battery.charge', '37');
    clock.advance(1_000);

    const restarted = restartClock(clock);
    const again = await boot(dir, LOW_BATTERY, restarted);
    assert.equal(again.updates[0]!['battery.charge'], '37');
    restarted.advance(7_000);
    assert.equal(restarted.now() - t0, 10_000);
    assert.equal(again.updates.at(-1)!['ups.status'], 'OB LB');
    assert.equal(again.updates.at(-1)!['battery.charge'], '37');
  });

  it('comes back with the source still lost when the master crashed during COMMBAD', async () => {
    const dir = tempDir();
    const timeline = 'ups.status: OB\nTIMER 1\nCOMMBAD cable pulled\nTIMER 5\nCOMMOK\n';
    const clock = new ManualClock();
    await boot(dir, timeline, clock);
    clock.advance(2_000);

    const restarted = restartClock(clock);
    const again = await boot(dir, timeline, restarted);
    assert.deepEqual(again.comm, [[false, 'cable pulled']]);
    assert.equal(again.updates.length, 0, 'no snapshot while the UPS cannot be reached');
    restarted.advance(4_000);
    assert.deepEqual(again.comm.at(-1), [true, 'scripted']);
    assert.equal(again.updates.at(-1)!['ups.status'], 'OB');
  });

  it('resumes a looping timeline where it was', async () => {
    const dir = tempDir();
    const timeline = 'ups.status: OL\nTIMER 3\nups.status: OB\nTIMER 3\n';
    const clock = new ManualClock();
    await boot(dir, timeline, clock, undefined, { loop: true });
    clock.advance(4_000);

    const restarted = restartClock(clock);
    const again = await boot(dir, timeline, restarted, undefined, { loop: true });
    assert.equal(again.updates[0]!['ups.status'], 'OB');
    restarted.advance(2_000); // the second TIMER ends at t=6s, then the loop pause of 1s
    restarted.advance(1_000);
    assert.equal(again.updates.at(-1)!['ups.status'], 'OL');
  });

  it('logs a corrupt state file once, with its path and why, and starts afresh', async () => {
    const dir = tempDir();
    const file = join(dir, SIMULATED_STATE_FILE);
    writeFileSync(file, '{"format": "upsfleet-simulated-ups/1", "vars": {');
    const log = captureLogger();
    const clock = new ManualClock();
    const fresh = await boot(dir, LOW_BATTERY, clock, log.logger);
    const errors = log.errors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.path, file);
    assert.match(String(errors[0]!.reason), /not valid JSON/);
    assert.equal(fresh.updates[0]!['ups.status'], 'OB');
    clock.advance(10_000);
    assert.equal(fresh.updates.at(-1)!['ups.status'], 'OB LB');
    assert.doesNotThrow(() => JSON.parse(readFileSync(file, 'utf8')), 'replaced by a valid state');
  });

  it('refuses a state file of the wrong shape or of another timeline', async () => {
    const dir = tempDir();
    const file = join(dir, SIMULATED_STATE_FILE);
    writeFileSync(file, JSON.stringify({ format: 'upsfleet-simulated-ups/1', vars: { a: 1 }, nextStep: -1 }));
    const log = captureLogger();
    const fresh = await boot(dir, LOW_BATTERY, new ManualClock(), log.logger);
    assert.equal(log.errors().length, 1);
    assert.match(String(log.errors()[0]!.reason), /\/nextStep/);
    assert.equal(fresh.updates[0]!['ups.status'], 'OB');

    // a valid file saved for another timeline: its position means nothing here
    const other = captureLogger();
    const changed = await boot(dir, 'ups.status: OL\n', new ManualClock(), other.logger);
    assert.equal(other.errors().length, 0);
    assert.ok(other.lines.some((l) => l.level === 40 && /another timeline/.test(l.msg)));
    assert.equal(changed.updates[0]!['ups.status'], 'OL');
  });

  it('goes on from memory when the state dir cannot be written, logging once per file', async () => {
    const parent = tempDir();
    const regular = join(parent, 'not-a-dir');
    writeFileSync(regular, 'x');
    const stateDir = join(regular, 'state'); // ENOTDIR even for root
    const log = captureLogger();
    const clock = new ManualClock();
    const s = await boot(stateDir, LOW_BATTERY, clock, log.logger);
    await s.source.setVariable('battery.charge', '50');
    await s.source.setVariable('battery.charge', '40');
    await s.source.instantCommand('beeper.mute');
    await s.source.instantCommand('shutdown.return');
    clock.advance(10_000);
    assert.equal(s.updates.at(-1)!['ups.status'], 'OB LB');
    assert.equal(s.updates.at(-1)!['battery.charge'], '40');
    assert.deepEqual(
      s.source.recordedCommands.map((c) => c.name),
      ['beeper.mute', 'shutdown.return'],
    );

    const errors = log.errors();
    const statePath = join(stateDir, SIMULATED_STATE_FILE);
    const commandsPath = join(stateDir, SIMULATED_COMMANDS_FILE);
    // one for the unreadable file at start, one for the failing state writes, one for the command log
    assert.deepEqual(
      errors.map((e) => e.path),
      [statePath, statePath, commandsPath],
    );
    assert.equal(errors[1]!.errno, 'ENOTDIR');
    assert.equal(errors[2]!.errno, 'ENOTDIR');

    clock.advance(WRITE_FAILURE_LOG_INTERVAL_MS);
    await s.source.setVariable('battery.charge', '30');
    assert.equal(log.errors().length, 4, 'reminded once the interval has passed');
    // the two setVariable calls and the LB step at t=10s failed without a line of their own
    assert.equal(log.errors()[3]!.failuresNotLogged, 3);
  });

  it('appends one line per accepted instant command, across restarts', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const first = await boot(dir, LOW_BATTERY, clock);
    await first.source.instantCommand('beeper.mute');
    clock.advance(1_000);
    await first.source.instantCommand('load.off.delay', '20');
    await assert.rejects(first.source.instantCommand('self.destruct'));

    const restarted = restartClock(clock, 500);
    const again = await boot(dir, LOW_BATTERY, restarted);
    await again.source.instantCommand('shutdown.return');

    const lines = readFileSync(join(dir, SIMULATED_COMMANDS_FILE), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const t0 = clock.now() - 1_000;
    assert.deepEqual(lines, [
      { name: 'beeper.mute', param: null, at: t0 },
      { name: 'load.off.delay', param: '20', at: t0 + 1_000 },
      { name: 'shutdown.return', param: null, at: t0 + 1_500 },
    ]);
  });

  it('is wired from `persist: true` to the master stateDir, and off by default', async () => {
    const config = (persist: string) =>
      `master:\n  id: m1\n  stateDir: state\nups:\n  source:\n    type: simulated\n    script: "ups.status: OB"\n${persist}sequence:\n  - groups: [vms]\n`;
    const on = tempDir();
    const settings = parseMasterSettings(config('    persist: true\n'), join(on, 'master.yaml'));
    const source = await createSource(settings, new ManualClock(), silentLogger());
    await source.start(recorder().listener);
    await source.instantCommand('shutdown.return');
    assert.ok(existsSync(join(on, 'state', SIMULATED_STATE_FILE)));
    assert.ok(existsSync(join(on, 'state', SIMULATED_COMMANDS_FILE)));

    const off = tempDir();
    const plain = await createSource(
      parseMasterSettings(config(''), join(off, 'master.yaml')),
      new ManualClock(),
      silentLogger(),
    );
    await plain.start(recorder().listener);
    await plain.instantCommand('shutdown.return');
    assert.equal(existsSync(join(off, 'state')), false, 'nothing written without persist');
  });
});
