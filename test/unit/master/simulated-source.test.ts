import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedSource } from '../../../master/sources/simulated/simulated-source.js';
import { parseTimeline } from '../../../master/sources/simulated/timeline.js';
import { ManualClock } from '../../../shared/clock.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';

const OUTAGE = `# a short outage
ups.status: OL CHRG
battery.charge: 100
TIMER 10
ups.status: OB DISCHRG
battery.charge: 80
TIMER 5
COMMBAD cable pulled
TIMER 5
COMMOK
ups.status: OB DISCHRG LB
ALARM "Replace battery!"
`;

function record() {
  const updates: UpsVars[] = [];
  const comm: Array<[boolean, string]> = [];
  return {
    updates,
    comm,
    listener: {
      update: (v: UpsVars) => updates.push(v),
      comm: (ok: boolean, r: string) => comm.push([ok, r]),
    },
  };
}

describe('simulated source', () => {
  it('parses NUT .seq timelines and says where a bad line is', () => {
    const steps = parseTimeline(OUTAGE, 'outage.seq');
    assert.deepEqual(
      steps.map((s) => s.kind),
      ['set', 'set', 'wait', 'set', 'set', 'wait', 'comm', 'wait', 'comm', 'set', 'alarm'],
    );
    assert.throws(
      () => parseTimeline('ups.status: OL\nTIMER soon\n', 'bad.seq'),
      (e) => isUpsfleetError(e, 'SOURCE_TIMELINE') && e.message.startsWith('bad.seq:2:'),
    );
    assert.throws(
      () => parseTimeline('this is not a line\n', 'bad.seq'),
      (e) => isUpsfleetError(e, 'SOURCE_TIMELINE') && e.message.startsWith('bad.seq:1:'),
    );
  });

  it('plays the timeline on the clock, publishing at each TIMER and scripting comm loss', async () => {
    const clock = new ManualClock();
    const source = new SimulatedSource({
      upsName: 'ups',
      steps: parseTimeline(OUTAGE),
      clock,
      logger: silentLogger(),
      speed: 1,
    });
    const r = record();
    await source.start(r.listener);
    assert.equal(r.updates.length, 1);
    assert.equal(r.updates[0]!['ups.status'], 'OL CHRG');
    clock.advance(9_999);
    assert.equal(r.updates.length, 1, 'nothing before the TIMER ends');
    clock.advance(1);
    assert.equal(r.updates.at(-1)!['ups.status'], 'OB DISCHRG');
    assert.equal(r.updates.at(-1)!['battery.charge'], '80');
    clock.advance(5_000);
    assert.deepEqual(r.comm, [[false, 'cable pulled']]);
    clock.advance(5_000);
    assert.deepEqual(r.comm.at(-1), [true, 'scripted']);
    assert.equal(r.updates.at(-1)!['ups.status'], 'OB LB DISCHRG ALARM');
    assert.equal(r.updates.at(-1)!['ups.alarm'], 'Replace battery!');
    await source.stop();
  });

  it('speeds up time, records instant commands and accepts live changes', async () => {
    const clock = new ManualClock();
    const source = new SimulatedSource({
      upsName: 'ups',
      steps: parseTimeline(OUTAGE),
      clock,
      logger: silentLogger(),
      speed: 10,
    });
    const r = record();
    await source.start(r.listener);
    clock.advance(1_000);
    assert.equal(r.updates.at(-1)!['ups.status'], 'OB DISCHRG');
    await source.setVariable('ups.status', 'ob lb');
    assert.equal(r.updates.at(-1)!['ups.status'], 'OB LB');
    await source.instantCommand('shutdown.return');
    assert.deepEqual(
      source.recordedCommands.map((c) => c.name),
      ['shutdown.return'],
    );
    await assert.rejects(source.instantCommand('self.destruct'), (e) =>
      isUpsfleetError(e, 'SOURCE_COMMAND_UNSUPPORTED'),
    );
    await source.stop();
  });
});
