/**
 * Recovery from a crash after every single journal record. One outage is played to the end on a
 * ManualClock (an early group on its own trigger, then critical, two steps, the final step); then for
 * every prefix of its journal a new master core starts from that prefix alone, as a master killed right
 * after that record would, and the same outage is played on. Whatever the crash point, the combined
 * journal must show: nobody that was down ordered again, the same order ids, every step after the one
 * before it ended, killpower exactly once (twice only when the crash fell between deciding it and
 * hearing back, the second marked as a retry) and last, and a run that ends.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StoredRecord } from '../../../master/journal/journal-line.js';
import { emptyRecoveredState, reduceRecovered } from '../../../master/journal/recovery.js';
import { ManualClock } from '../../../shared/clock.js';
import { DecisionHarness, harnessSettings, readRecords } from './decision-harness.js';

const T0 = 1_800_000_000_000;
const root = mkdtempSync(join(tmpdir(), 'upsfleet-crash-replay-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The outage, from wherever the UPS is now: on battery, the early group leaves, then low battery. */
async function playOutage(h: DecisionHarness, from: string | null): Promise<void> {
  if (from === null || !from.includes('OB')) {
    h.setStatus('OL');
    await h.run(1000);
    h.setStatus('OB DISCHRG');
    await h.run(35_000);
  } else {
    h.setStatus(from, from.includes('LB') ? '8' : '50');
    if (!from.includes('LB')) await h.run(35_000);
  }
  h.setStatus('OB DISCHRG LB', '8');
  await h.run(90_000);
}

function seqEvents(records: StoredRecord[], event: string): StoredRecord[] {
  return records.filter((r) => r.kind === 'sequence' && r.event === event);
}

function checkCombined(records: StoredRecord[], k: number): void {
  const where = `crash after record ${k}`;
  const real = seqEvents(records, 'sequence-start').filter((r) => r.drill !== true);
  assert.ok(real.length >= 1, `${where}: no run started`);
  const runIds = new Set(real.map((r) => r.runId));
  assert.equal(
    runIds.size,
    1,
    `${where}: the run was started again as a new run (${[...runIds].join(', ')})`,
  );
  const runId = real[0]!.runId;
  const ofRun = records.filter((r) => r.runId === runId || r.runId === undefined);
  // order held: step 2's orders after step 1's end
  const step1End = ofRun.findIndex((r) => r.event === 'step-end' && r.step === 1);
  const step2Orders = ofRun
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => (r.event === 'order' || r.event === 'resend') && r.step === 2);
  assert.ok(step1End >= 0, `${where}: step 1 never ended`);
  for (const { i } of step2Orders) assert.ok(i > step1End, `${where}: step 2 ordered before step 1 ended`);
  // nobody ordered again after it was down
  const downAt = new Map<string, number>();
  records.forEach((r, i) => {
    if (r.kind !== 'sequence') return;
    const key = `${r.runId}/${r.memberId}`;
    if (r.event === 'down' && !downAt.has(key)) downAt.set(key, i);
    if ((r.event === 'order' || r.event === 'resend') && downAt.has(key))
      assert.fail(`${where}: ${r.memberId} ordered again after it was down (record ${i})`);
  });
  // lab1 left with its early group: never ordered by the fleet run
  assert.ok(
    !records.some(
      (r) => r.kind === 'sequence' && r.memberId === 'lab1' && r.runId === runId && r.event === 'order',
    ),
    `${where}: lab1 ordered by the fleet run`,
  );
  // killpower exactly once, last
  const sending = records.filter((r) => r.kind === 'killpower-sending');
  const results = records.filter((r) => r.kind === 'killpower');
  const crashedInBetween = sending.length === 2 && sending[1]!.retry === true;
  assert.ok(sending.length === 1 || crashedInBetween, `${where}: killpower decided ${sending.length} times`);
  assert.equal(results.length, 1, `${where}: ${results.length} killpower results`);
  const kp = records.indexOf(sending[0]!);
  const lastStepEnd = records.findLastIndex((r) => r.event === 'step-end' || r.event === 'early-end');
  assert.ok(kp > lastStepEnd, `${where}: killpower before the last stage ended`);
  const lastDown = records.findLastIndex((r) => r.event === 'down');
  assert.ok(kp > lastDown, `${where}: killpower before a member was down`);
  assert.equal(seqEvents(records, 'done').length, 1, `${where}: the run did not end exactly once`);
  assert.equal(records.filter((r) => r.kind === 'master-poweroff').length, 1, `${where}: master power-off`);
}

describe('journal replay: a crash after every single record', () => {
  it('every prefix of a whole outage resumes to the same end', async () => {
    const baseDir = join(root, 'baseline');
    const base = new DecisionHarness(harnessSettings(baseDir), new ManualClock(T0));
    base.start();
    base.connectAll();
    await playOutage(base, null);
    base.stop();
    const file = base.journal.file;
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const baseline = readRecords(file);
    checkCombined(baseline, lines.length);
    assert.ok(lines.length > 30, `a whole outage writes many records (${lines.length})`);

    for (let k = 0; k <= lines.length; k++) {
      const dir = join(root, `k${k}`);
      mkdirSync(join(dir, 'state'), { recursive: true });
      writeFileSync(
        join(dir, 'state', 'journal.jsonl'),
        lines
          .slice(0, k)
          .map((l) => `${l}\n`)
          .join(''),
      );
      const prefix = baseline.slice(0, k);
      const folded = prefix.reduce(reduceRecovered, emptyRecoveredState());
      const lastTs = (prefix.at(-1)?.ts as number | undefined) ?? T0;
      const h = new DecisionHarness(harnessSettings(dir), new ManualClock(lastTs + 500));
      h.start();
      h.connectAll();
      await playOutage(h, folded.status);
      h.stop();

      const combined = readRecords(h.journal.file);
      checkCombined(combined, k);
      // the recovered run keeps its order ids: every order sent now carries the id journaled before
      const journaledIds = new Map<string, string>();
      for (const r of prefix)
        if (r.event === 'order' || r.event === 'offline')
          journaledIds.set(`${r.runId}/${r.memberId}`, r.orderId as string);
      const run = folded.run;
      for (const o of h.orders) {
        const before = run ? journaledIds.get(`${run.runId}/${o.memberId}`) : undefined;
        if (before)
          assert.equal(o.orderId, before, `crash after record ${k}: ${o.memberId} got a new order id`);
      }
      // members the prefix had confirmed down are not ordered in the new process
      const downBefore = new Set<string>();
      for (const st of [...(run?.stages ?? []), ...Object.values(folded.early).map((e) => e.stage)])
        for (const m of Object.values(st.members)) if (m.state === 'down') downBefore.add(m.id);
      for (const o of h.orders)
        assert.ok(
          !downBefore.has(o.memberId),
          `crash after record ${k}: ${o.memberId} was down and got an order`,
        );
      // killpower reached the UPS once in all (twice only after a crash between deciding and hearing back)
      const kpBefore = prefix.filter((r) => r.kind === 'killpower').length;
      const sentNow = h.source.recordedCommands.filter((c) => c.name === 'shutdown.return').length;
      assert.equal(
        sentNow,
        kpBefore > 0 ? 0 : 1,
        `crash after record ${k}: killpower sent ${sentNow} times now`,
      );
      if (k > 0 && folded.onBatterySince !== null) {
        const resume = combined.find((r) => r.kind === 'resume');
        assert.equal(
          resume?.onBatterySince,
          folded.onBatterySince,
          `crash after record ${k}: outage start lost`,
        );
        const onbatt = combined.filter((r) => r.kind === 'event' && r.event === 'ONBATT');
        assert.equal(onbatt.length, 1, `crash after record ${k}: ONBATT broadcast ${onbatt.length} times`);
      }
    }
  });
});
