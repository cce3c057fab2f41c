/**
 * An early group ordered at critical (its own trigger never fired) runs beside the fleet steps; the
 * master's final step, killpower included, must wait for it (within its deadline) and the journal must
 * say what its deadline cut short.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../../shared/clock.js';
import { DecisionHarness, harnessSettings, MEMBERS } from './decision-harness.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-final-early-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function outageWithSlowLab(labAnswerMs: number) {
  const dir = mkdtempSync(join(root, 'run-'));
  const members = MEMBERS.map((m) => (m.id === 'lab1' ? { ...m, answerMs: labAnswerMs } : m));
  const h = new DecisionHarness(harnessSettings(dir, { labTrigger: '10m' }), new ManualClock(), members);
  h.start();
  h.connectAll();
  h.setStatus('OL');
  await h.run(1000);
  h.setStatus('OB DISCHRG LB', '8');
  await h.run(120_000);
  h.stop();
  const records = h.records();
  const at = (pred: (r: (typeof records)[number]) => boolean) => records.findIndex(pred);
  return { h, records, at };
}

describe('the final step and early groups', () => {
  it('waits for an early group ordered at critical before killpower', async () => {
    const { records, at } = await outageWithSlowLab(10_000); // lab1 is down 20 s after its order
    const labDown = at((r) => r.event === 'down' && r.memberId === 'lab1');
    const lastStep = at((r) => r.event === 'step-end' && r.step === 2);
    const killpower = at((r) => r.kind === 'killpower-sending');
    assert.ok(labDown > 0 && lastStep > 0 && killpower > 0);
    assert.ok(lastStep < labDown, 'the fleet steps finish first in this scenario');
    assert.ok(killpower > labDown, 'killpower went before the early group was down');
    assert.ok(records.some((r) => r.event === 'final-wait' && r.detail === 'lab'));
    assert.ok((records[killpower]!.ts as number) >= (records[labDown]!.ts as number));
  });

  it('records what the early group deadline cut short, then sends killpower', async () => {
    const { records, at } = await outageWithSlowLab(40_000); // acks at 40 s, would go down at 80 s: past its 60 s deadline
    const cut = at((r) => r.event === 'deadline' && r.memberId === 'lab1');
    const earlyEnd = at((r) => r.event === 'early-end' && r.early === 'lab');
    const killpower = at((r) => r.kind === 'killpower-sending');
    assert.ok(cut > 0, 'lab1 not recorded as cut short');
    assert.equal(records[cut]!.detail, 'acked', 'what it had reached');
    assert.equal(records[earlyEnd]!.endedBy, 'deadline');
    assert.ok(killpower > earlyEnd);
    assert.ok(!records.some((r) => r.event === 'down' && r.memberId === 'lab1'), 'a timer is never "down"');
  });
});
