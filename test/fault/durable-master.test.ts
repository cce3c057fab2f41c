/**
 * The durable master on real processes (issue 9): the master is killed (-9) before critical, mid-step
 * and during its final step, restarted with SIGTERM on battery, restarted after a config edit, started
 * on a torn journal, and run on a full disk; an early group ordered at critical is waited for. Each
 * scenario asserts from the agents' markers, the simulated UPS's own command record and the journal:
 * nobody ordered twice, the order held, killpower exactly once and last, and a journal that says what
 * happened (`resume`).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { RunningFleet } from '../../cli/demo/fleet-launcher.js';
import {
  assertWholeRun,
  type Entry,
  faultFleet,
  marker,
  onBattery,
  runFinished,
  seq,
  upsCommands,
  waitUntil,
} from './fault-fleet.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-fault-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** app2 takes 3 s in its hook: step 1 stays open long enough to crash in the middle of it. */
const SLOW_APP2 = [{ name: 'slow-on-app2', run: 'case "$UPSFLEET_ORDER_ID" in *:app2) sleep 3;; esac' }];

const check = (ok: boolean, msg: string) => assert.ok(ok, msg);
const resumeRecord = (j: Entry[]) => j.find((e) => e.kind === 'resume');

describe('durable master: crashes, restarts and a full disk on real processes', () => {
  let fleet: RunningFleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${signal} while on battery, before critical: the outage keeps its start, no second ONBATT`, async () => {
      const dir = mkdtempSync(join(root, `before-critical-${signal}-`));
      fleet = await faultFleet({
        dir,
        early: { lab: { trigger: { onBatteryFor: '12s' }, agents: ['lab1'] } },
      });
      const f = fleet;
      await onBattery(f);
      await f.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 10_000);
      const since = f.journal().find((e) => e.kind === 'status' && e.onBatterySince)
        ?.onBatterySince as number;
      await new Promise((r) => setTimeout(r, 4000));
      await f.restartMaster({ signal });
      await f.waitForJournal((j) => j.some((e) => e.kind === 'early'), 20_000);
      const j1 = f.journal();
      assert.equal(
        resumeRecord(j1)?.onBatterySince,
        since,
        'the restarted master knows when the outage began',
      );
      const early = j1.find((e) => e.kind === 'early')!;
      const firedAfter = (early.ts as number) - since;
      assert.ok(
        firedAfter >= 12_000 && firedAfter < 15_000,
        `onBatteryFor: 12s fired ${firedAfter} ms after the outage began`,
      );
      await f.waitForJournal((j) => seq(j, 'early-end').length > 0, 20_000);
      await onBattery(f, true);
      await waitUntil('the run to finish', runFinished(f), 60_000);
      const j = f.journal();
      assert.equal(j.filter((e) => e.kind === 'event' && e.event === 'ONBATT').length, 1, 'ONBATT once');
      assertWholeRun(f, check);
      assert.ok(
        !j.some(
          (e) =>
            e.kind === 'sequence' && e.memberId === 'lab1' && e.event === 'order' && e.early === undefined,
        ),
        'lab1 (gone with its early group) is not ordered by the fleet run',
      );
    });
  }

  it('kill -9 mid-step: the run continues at its step with the same ids; nobody down is ordered again', async () => {
    const dir = mkdtempSync(join(root, 'mid-step-'));
    fleet = await faultFleet({
      dir,
      appHooks: SLOW_APP2,
      masterEnv: { UPSFLEET_CRASH_AFTER: 'sequence:down#1' },
    });
    const f = fleet;
    await onBattery(f, true);
    await waitUntil('the failpoint', () => f.master.signalCode === 'SIGKILL', 30_000);
    const before = f.journal();
    const firstDown = seq(before, 'down')[0]!;
    assert.equal(firstDown.step, 1);
    const crashedAt = Date.now();
    await f.restartMaster({ signal: null });
    await waitUntil('the run to finish', runFinished(f), 60_000);
    const j = f.journal();
    const resume = resumeRecord(j)!;
    assert.equal(resume.phase, 'running');
    assert.equal(resume.step, 1);
    assert.equal(resume.runId, seq(before, 'sequence-start')[0]!.runId, 'same run id');
    assert.deepEqual(resume.membersDown, [firstDown.memberId]);
    assert.ok(
      marker(f, firstDown.memberId as string)!.ts < crashedAt,
      'the member down before the crash was not run again',
    );
    assertWholeRun(f, check);
  });

  for (const point of ['killpower-sending', 'killpower', 'master-hooks'] as const) {
    it(`kill -9 during the final step (after ${point}): killpower reaches the UPS exactly once`, async () => {
      const dir = mkdtempSync(join(root, `final-${point}-`));
      fleet = await faultFleet({ dir, masterEnv: { UPSFLEET_CRASH_AFTER: point } });
      const f = fleet;
      await onBattery(f, true);
      await waitUntil('the failpoint', () => f.master.signalCode === 'SIGKILL', 40_000);
      await f.restartMaster({ signal: null });
      await waitUntil('the run to finish', runFinished(f), 30_000);
      const j = f.journal();
      assert.equal(resumeRecord(j)?.phase, 'final');
      assert.equal(j.filter((e) => e.kind === 'killpower').length, 1, 'one killpower result');
      const decided = j.filter((e) => e.kind === 'killpower-sending');
      // crashing after the decision and before its result: decided again, marked as a retry
      assert.equal(decided.length, point === 'killpower-sending' ? 2 : 1);
      if (point === 'killpower-sending') assert.equal(decided[1]!.retry, true);
      assertWholeRun(f, check);
    });
  }

  it('SIGHUP mid-outage reloads and never ends the master; the run goes on to killpower', async () => {
    const dir = mkdtempSync(join(root, 'sighup-'));
    fleet = await faultFleet({ dir, appHooks: SLOW_APP2 });
    const f = fleet;
    await onBattery(f, true);
    await f.waitForJournal((j) => seq(j, 'step-start').length > 0, 20_000);
    const pid = f.master.pid;
    f.master.kill('SIGHUP');
    await waitUntil('the run to finish', runFinished(f), 60_000);
    assert.equal(f.master.exitCode, null, 'the master is still running');
    assert.equal(f.master.signalCode, null);
    assert.equal(f.master.pid, pid);
    assert.equal(resumeRecord(f.journal()), undefined, 'no restart happened');
    assertWholeRun(f, check);
  });

  it('config edited and master restarted mid-outage: the run keeps the sequence it started with', async () => {
    const dir = mkdtempSync(join(root, 'config-edit-'));
    fleet = await faultFleet({
      dir,
      appHooks: SLOW_APP2,
      masterEnv: { UPSFLEET_CRASH_AFTER: 'sequence:step-start#1' },
    });
    const f = fleet;
    await onBattery(f, true);
    await waitUntil('the failpoint', () => f.master.signalCode === 'SIGKILL', 30_000);
    // the operator swaps the steps (db first) while the master is down
    const config = parse(readFileSync(f.masterConfig, 'utf8')) as { sequence: Array<{ groups: string[] }> };
    config.sequence.reverse();
    writeFileSync(f.masterConfig, JSON.stringify(config, null, 2));
    await f.restartMaster({ signal: null });
    await waitUntil('the run to finish', runFinished(f), 60_000);
    const j = f.journal();
    assert.equal(resumeRecord(j)?.planChanged, true, 'the resume record says the plan changed');
    assert.equal(seq(j, 'order').find((e) => e.memberId === 'db1')?.step, 2, 'db still goes in step 2');
    assertWholeRun(f, check);
  });

  it('a torn journal tail is reported with its offset and skipped; the run resumes', async () => {
    const dir = mkdtempSync(join(root, 'torn-'));
    fleet = await faultFleet({
      dir,
      appHooks: SLOW_APP2,
      masterEnv: { UPSFLEET_CRASH_AFTER: 'sequence:down#1' },
    });
    const f = fleet;
    await onBattery(f, true);
    await waitUntil('the failpoint', () => f.master.signalCode === 'SIGKILL', 30_000);
    const file = join(dir, 'master', 'state', 'journal.jsonl');
    const goodSize = statSync(file).size;
    appendFileSync(file, '{"seq":999,"kind":"sequence","event":"do'); // what a torn write leaves
    await f.restartMaster({ signal: null });
    const status = await f.getJson<{
      journal: { problems: Array<{ file: string; offset: number; tail: boolean }> };
    }>('/status');
    assert.deepEqual(status.journal.problems, [
      { file, offset: goodSize, why: 'no newline (torn write)', tail: true },
    ]);
    await waitUntil('the run to finish', runFinished(f), 60_000);
    assertWholeRun(f, check);
  });

  it('an early group ordered at critical is waited for before killpower', async () => {
    const dir = mkdtempSync(join(root, 'early-at-critical-'));
    fleet = await faultFleet({
      dir,
      early: {
        lab: {
          trigger: { onBatteryFor: '10m' },
          agents: ['lab1'],
          hooks: [{ name: 'slow', run: 'sleep 4' }],
        },
      },
    });
    const f = fleet;
    await onBattery(f, true);
    await waitUntil('the run to finish', runFinished(f), 60_000);
    const j = f.journal();
    assert.ok(seq(j, 'final-wait').length === 1, 'the final step said it waits for lab');
    const lab = marker(f, 'lab1')!;
    const db = marker(f, 'db1')!;
    assert.ok(db.ts < lab.ts, 'the fleet steps were done before lab1 in this scenario');
    assertWholeRun(f, check);
  });

  const asRoot = process.getuid?.() === 0;
  for (const when of ['before the outage', 'during the outage'] as const) {
    it(`journal on a full tmpfs ${when}: the shutdown goes on, and the journal catches up`, {
      skip: asRoot ? false : 'needs root to mount a tmpfs',
    }, async () => {
      const dir = mkdtempSync(join(root, `full-${when.split(' ')[0]}-`));
      const state = join(dir, 'master', 'state');
      mkdirSync(state, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', state]);
      const filler = join(state, 'filler');
      const fill = () => {
        try {
          execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
        } catch {
          // dd ends at ENOSPC: the disk is full
        }
      };
      try {
        fleet = await faultFleet({ dir, appHooks: SLOW_APP2 });
        const f = fleet;
        if (when === 'before the outage') fill();
        await onBattery(f, true);
        if (when === 'during the outage') {
          await f.waitForJournal((j) => seq(j, 'step-start').length > 0, 20_000);
          fill();
        }
        await waitUntil(
          'every agent and the master to be down',
          () => f.agents.every((a) => marker(f, a.id)) && marker(f, 'master') !== null,
          60_000,
        );
        const st = await f.getJson<{
          journal: { ok: boolean; error: { code: string } | null; pending: number };
        }>('/status');
        assert.equal(st.journal.ok, false);
        assert.equal(st.journal.error?.code, 'ENOSPC');
        assert.ok(st.journal.pending > 0);
        const metrics = await metricsText(f);
        assert.match(metrics, /^upsfleet_journal_ok 0$/m);
        rmSync(filler);
        await waitUntil('the journal to catch up', runFinished(f), 10_000);
        const j = f.journal();
        assert.ok(
          j.some((e) => e.kind === 'killpower' && e.ok === true),
          'killpower was sent and is journaled now',
        );
        assert.equal(seq(j, 'done').length, 1);
        // the simulated UPS's own record was on the full disk too: check killpower from the journal instead
        const order = ['app1', 'app2', 'db1'].map((id) => marker(f, id)!);
        assert.ok(Math.max(order[0]!.ts, order[1]!.ts) < order[2]!.orderReceivedAt!, 'the order held');
        assert.ok(upsCommands(f).length <= 1);
      } finally {
        await fleet?.stop();
        fleet = undefined;
        execFileSync('umount', [state]);
      }
    });
  }
});

async function metricsText(f: RunningFleet): Promise<string> {
  const { pinnedRequest } = await import('../../shared/tls/pinned-request.js');
  const res = await pinnedRequest(`${f.httpUrl}/metrics`, {
    fingerprints: f.fingerprint ? [f.fingerprint] : [],
  });
  return res.text;
}
