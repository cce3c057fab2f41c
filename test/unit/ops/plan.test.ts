/** The battery plan: measured step durations from the last drill, deadlines otherwise, margin, verdict; the warning on change. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DrillReport } from '../../../master/drill/drill-report.js';
import { computePlan } from '../../../master/plan/plan.js';
import { PlanWatch } from '../../../master/plan/plan-watch.js';
import { silentLogger } from '../../../shared/logger.js';

const steps = [
  { index: 1, groups: ['vms'], deadlineMs: 120_000, settleMs: 5_000 },
  { index: 2, groups: ['db'], deadlineMs: 300_000, settleMs: 0 },
];

const drill = (over: Partial<DrillReport['steps'][number]> = {}): DrillReport => ({
  runId: 'r1',
  startedAt: 1000,
  endedAt: 60_000,
  durationMs: 59_000,
  steps: [
    {
      index: 1,
      groups: ['vms'],
      durationMs: 40_000,
      endedBy: 'confirmed',
      deadlineMs: 120_000,
      settleMs: 5_000,
      ...over,
    },
    { index: 2, groups: ['db'], durationMs: 15_000, endedBy: 'confirmed', deadlineMs: 300_000, settleMs: 0 },
  ],
  hosts: [],
  final: { durationMs: 2_000, error: null },
  ok: true,
  failures: 0,
});

describe('battery plan', () => {
  it('uses deadlines until a drill measured the steps', () => {
    const p = computePlan({ steps, drill: null, marginMs: 60_000, runtime: '600' });
    assert.deepEqual(
      p.steps.map((s) => [s.durationMs, s.from]),
      [
        [125_000, 'deadline'],
        [300_000, 'deadline'],
      ],
    );
    assert.equal(p.requiredMs, 425_000);
    assert.equal(p.spareMs, 600_000 - 425_000 - 60_000);
    assert.equal(p.fits, true);
  });

  it('uses the drill, but not for a step whose groups changed or that ended by its deadline', () => {
    const measured = computePlan({ steps, drill: drill(), marginMs: 60_000, runtime: '100' });
    assert.equal(measured.requiredMs, 40_000 + 15_000 + 2_000);
    assert.equal(measured.fits, false);
    const changed = computePlan({
      steps,
      drill: drill({ groups: ['vms', 'lab'] }),
      marginMs: 0,
      runtime: '1000',
    });
    assert.equal(changed.steps[0]!.from, 'deadline');
    const cut = computePlan({ steps, drill: drill({ endedBy: 'deadline' }), marginMs: 0, runtime: '1000' });
    assert.equal(cut.steps[0]!.from, 'deadline');
  });

  it('cannot tell without battery.runtime', () => {
    const p = computePlan({ steps, drill: null, marginMs: 0, runtime: undefined });
    assert.deepEqual([p.runtimeMs, p.spareMs, p.fits], [null, null, null]);
  });

  it('warns once when the plan stops fitting and says when it fits again', () => {
    const sent: string[] = [];
    const watch = new PlanWatch({ logger: silentLogger(), notify: (e) => void sent.push(e) });
    const at = (runtime: string) => computePlan({ steps, drill: drill(), marginMs: 60_000, runtime });
    watch.check(at('1000'));
    watch.check(at('100'));
    watch.check(at('90'));
    watch.check(at('1000'));
    assert.deepEqual(sent, ['PLANWARN', 'PLANOK']);
  });
});
