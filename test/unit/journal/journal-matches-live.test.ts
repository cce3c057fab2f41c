/**
 * The journal is the master's memory: what a restarted master rebuilds from it must say what the running
 * master said. On a clock that moves a little at every reading (as a real one does between two calls),
 * every member's times folded from the journal equal the live sequencer's, stage by stage. They differed by
 * a millisecond or two when a record took its own `now` after the member's change had taken another.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  emptyRecoveredState,
  type RecoveredStage,
  reduceRecovered,
} from '../../../master/journal/recovery.js';
import type { StepView } from '../../../master/sequencer/sequence-view.js';
import { ManualClock } from '../../../shared/clock.js';
import { DecisionHarness, harnessSettings } from './decision-harness.js';

/** Each reading is 1 ms later than the one before, on top of the manual time. */
class CreepingClock extends ManualClock {
  private readings = 0;
  override now(): number {
    return super.now() + ++this.readings;
  }
}

const root = mkdtempSync(join(tmpdir(), 'upsfleet-journal-live-'));
after(() => rmSync(root, { recursive: true, force: true }));

const TIMES = ['orderedAt', 'ackAt', 'goingDownAt', 'downAt', 'state'] as const;

describe('the journal and the live sequencer agree', () => {
  it("every member's order, ack, going-down and down times, and each stage's start and end", async () => {
    const h = new DecisionHarness(harnessSettings(join(root, 'a')), new CreepingClock(1_800_000_000_000));
    h.start();
    h.connectAll();
    h.setStatus('OL');
    await h.run(1000);
    h.setStatus('OB DISCHRG');
    await h.run(35_000);
    h.setStatus('OB DISCHRG LB', '8');
    await h.run(90_000);
    const live = h.sequencer.view();
    h.stop();
    // folded up to the run's end (a finished run is forgotten): as a master restarted in its final step
    const records = h.records();
    const done = records.findIndex((r) => r.kind === 'sequence' && r.event === 'done');
    assert.ok(done > 0, 'the run ended');
    const folded = records.slice(0, done).reduce(reduceRecovered, emptyRecoveredState());
    const run = folded.run;
    assert.ok(run, 'a run was journaled');
    assert.equal(live.steps.length, run.stages.length);
    let compared = 0;
    const same = (stage: RecoveredStage, step: StepView, where: string) => {
      assert.equal(stage.startedAt, step.startedAt, `${where} start`);
      assert.equal(stage.endedAt, step.endedAt, `${where} end`);
      for (const m of step.members) {
        const r = stage.members[m.id];
        assert.ok(r, `${m.id} journaled in ${where}`);
        for (const k of TIMES) assert.equal(r[k], m[k], `${m.id}.${k}: journal ${r[k]}, live ${m[k]}`);
        compared++;
      }
    };
    for (const [i, step] of live.steps.entries()) same(run.stages[i]!, step, `step ${i + 1}`);
    assert.equal(live.early.length, 1);
    for (const e of live.early) same(folded.early[e.group]!.stage, e, `early group ${e.group}`);
    assert.equal(compared, 4, 'app1, app2, db1 and lab1 compared');
  });
});
