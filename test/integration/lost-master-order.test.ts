/**
 * The master dies while the UPS is on battery (not critical yet, so nobody was ordered down): with real
 * processes, every agent shuts down on its own, and the fleet still leaves in sequence order, each step
 * lostMasterSpacing after the one before, instead of everyone at the same second.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LOST_MASTER_DELAY_FILE } from '../../agent/lost-master-delay-store.js';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';

const DEADTIME_MS = 2_000;
const SPACING_MS = 2_000;
const STEPS = [
  { group: 'front', agents: ['front1', 'front2'] },
  { group: 'app', agents: ['app1'] },
  { group: 'db', agents: ['db1', 'db2'] },
];
/**
 * How far apart two agents' "last contact with the master" may be. An agent counts its deadtime from the
 * last message it got; the timeline below changes ups.load every 0.25 s, so every agent hears from the
 * master at the same moments until it dies (with only the 2 s pings they could be 2 s apart).
 */
const CONTACT_SPREAD_MS = 250;
/** Timer, event-loop and process latency on a loaded 2-core machine, either way. */
const SLACK_MS = 750;

/** Mains fail after 1 s and never come back; no LB, no threshold: on battery, never critical. */
function outage(): string {
  const lines = [
    'ups.status: OL',
    'battery.charge: 100',
    'ups.load: 20',
    'TIMER 1',
    'ups.status: OB DISCHRG',
  ];
  for (let i = 0; i < 600; i++) lines.push(`ups.load: ${21 + (i % 2)}`, 'TIMER 0.25');
  return `${lines.join('\n')}\n`;
}

function logLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('master lost while on battery: agents go down on their own, still in sequence order', () => {
  let fleet: RunningFleet;
  let dir: string;
  let killedAt = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-lost-master-'));
    fleet = await launchFleet({
      dir,
      groups: STEPS.map((s) => ({ name: s.group, agents: s.agents })),
      sequence: STEPS.map((s) => ({ groups: [s.group] })),
      timeline: outage(),
      insecure: true,
      agentDeadtime: `${DEADTIME_MS}ms`,
      lostMasterSpacing: `${SPACING_MS}ms`,
    });
    await waitForAgents(fleet, 60_000);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'event' && e.event === 'ONBATT'), 30_000);
    // the ONBATT state reaches the agents right after it is journaled; a few state changes later it surely has
    await new Promise((r) => setTimeout(r, 4 * CONTACT_SPREAD_MS));
    assert.equal(
      fleet.journal().some((e) => e.kind === 'critical' || e.kind === 'order'),
      false,
      'the outage must not be critical: nobody is ordered down by the master',
    );
    killedAt = Date.now();
    fleet.master.kill('SIGKILL');
    await until(() => fleet.agents.every((a) => existsSync(a.marker)), 30_000, 'every agent marker');
  });

  after(async () => {
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const markerOf = (id: string): PowerOffMarker =>
    JSON.parse(readFileSync(join(dir, 'markers', `${id}.poweroff`), 'utf8')) as PowerOffMarker;

  it('every agent of step n is down before any agent of step n+1, spaced by lostMasterSpacing', (t) => {
    t.diagnostic(
      `down after the master died (ms): ${STEPS.map((s) => s.agents.map((id) => `${id} +${markerOf(id).ts - killedAt}`).join(', ')).join(' | ')}`,
    );
    for (let n = 0; n + 1 < STEPS.length; n++) {
      const lastDown = Math.max(...STEPS[n]!.agents.map((id) => markerOf(id).ts));
      const firstNext = Math.min(...STEPS[n + 1]!.agents.map((id) => markerOf(id).ts));
      assert.ok(
        lastDown < firstNext,
        `step ${n + 2} went down at ${firstNext}, before step ${n + 1} was down at ${lastDown}`,
      );
      assert.ok(
        firstNext - lastDown >= SPACING_MS - CONTACT_SPREAD_MS - SLACK_MS,
        `steps ${n + 1} and ${n + 2} only ${firstNext - lastDown} ms apart (spacing ${SPACING_MS} ms)`,
      );
    }
  });

  it('each agent waited its deadtime plus its step delay, counted from its last contact with the master', () => {
    STEPS.forEach((step, i) => {
      const effective = DEADTIME_MS + i * SPACING_MS;
      for (const id of step.agents) {
        const m = markerOf(id);
        assert.equal(m.orderId, null, `${id} was ordered down: it should have gone on its own`);
        assert.match(m.reason, /^master unreachable for \d+s while on battery$/);
        assert.ok(
          m.ts >= killedAt + effective - CONTACT_SPREAD_MS - SLACK_MS,
          `${id} (step ${i + 1}) down ${m.ts - killedAt} ms after the master died, expected ${effective} ms`,
        );
        assert.ok(
          m.ts <= killedAt + effective + SLACK_MS,
          `${id} (step ${i + 1}) down ${m.ts - killedAt} ms after the master died, expected ${effective} ms`,
        );
        const warn = logLines(join(dir, 'logs', `${id}.log`)).find((l) =>
          String(l.msg).startsWith('master unreachable while on battery'),
        );
        assert.ok(warn, `${id} logged no 'master unreachable while on battery' warning`);
        assert.deepEqual(
          {
            deadtimeMs: warn.deadtimeMs,
            lostMasterDelayMs: warn.lostMasterDelayMs,
            effectiveDeadtimeMs: warn.effectiveDeadtimeMs,
          },
          { deadtimeMs: DEADTIME_MS, lostMasterDelayMs: i * SPACING_MS, effectiveDeadtimeMs: effective },
        );
      }
    });
  });

  it('each agent saved its place (master, step, steps, delay) in its state dir', () => {
    STEPS.forEach((step, i) => {
      for (const id of step.agents) {
        const saved = JSON.parse(
          readFileSync(join(dir, 'agents', `${id}.state`, LOST_MASTER_DELAY_FILE), 'utf8'),
        ) as Record<string, unknown>;
        assert.deepEqual(
          [saved.masterId, saved.group, saved.step, saved.steps, saved.lostMasterDelayMs],
          ['master', step.group, i + 1, STEPS.length, i * SPACING_MS],
        );
      }
    });
  });
});
