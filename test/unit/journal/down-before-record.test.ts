/**
 * Two members are down before their step's record says so: one that went down with its early group, and a
 * NUT client that left after seeing FSD. Their `down` record is written when the step takes them in, later;
 * it keeps that write time (records stay in time order) and carries the instant they went down, which a
 * master rebuilt from its journal shows as the live one did (before, it showed the record's later time).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyRecoveredState, reduceRecovered } from '../../../master/journal/recovery.js';
import type { TimelineEntry } from '../../../master/sequencer/sequence-view.js';
import { fleet, step } from '../sequencer/fleet-fixture.js';

/** The journal's records for a timeline, as decision-journal.ts writes them. */
const asRecords = (timeline: TimelineEntry[]) =>
  timeline.map((e, seq) => ({ ...e, seq, kind: 'sequence', event: e.kind }));

function folded(timeline: TimelineEntry[]) {
  return asRecords(timeline).reduce(reduceRecovered, emptyRecoveredState());
}

describe('down before the record that says so', () => {
  it('a member down with its early group: the fleet step journals when it went down', () => {
    const f = fleet({
      steps: [step(1, ['lab'])],
      earlyGroups: [{ name: 'lab', trigger: { onBatteryForMs: 60_000 }, deadlineMs: 60_000, settleMs: 0 }],
    });
    f.connect('lab-1', 'lab');
    f.sequencer.startEarly('lab', 'early');
    f.confirmDown('lab-1');
    const wentDown = f.clock.now();
    f.clock.advance(45_000);
    f.sequencer.start('OB LB');
    const live = f.sequencer.view().steps[0]!.members[0]!;
    assert.equal(live.downAt, wentDown);
    const record = f.timeline.filter((e) => e.kind === 'down' && e.step === 1).at(-1)!;
    assert.equal(record.downAt, wentDown);
    assert.equal(record.ts, wentDown + 45_000, 'the record keeps its own time');
    const run = folded(f.timeline).run!;
    assert.equal(run.stages[0]!.members['lab-1']!.downAt, wentDown);
  });

  it('a NUT client that left after seeing FSD: its step journals when it left', () => {
    const f = fleet({ steps: [step(1, ['@secondaries'], 30_000)] });
    f.connect('nut:mon@10.0.0.9:4000', '@secondaries', 'nut');
    const left = f.clock.now();
    f.disconnect('nut:mon@10.0.0.9:4000', { leftAfterFsdAt: left });
    f.clock.advance(5_000);
    f.sequencer.start('FSD');
    const live = f.member('nut:mon@10.0.0.9:4000');
    assert.equal(live.state, 'down');
    assert.equal(live.downAt, left);
    const record = f.timeline.find((e) => e.kind === 'down')!;
    assert.equal(record.downAt, left);
    assert.ok(record.ts > left);
    const run = folded(f.timeline).run!;
    assert.equal(run.stages[0]!.members['nut:mon@10.0.0.9:4000']!.downAt, left);
  });
});
