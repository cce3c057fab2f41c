/**
 * The whole loop with real processes: a master on a simulated UPS and 6 agents in 3 groups on 127.0.0.1,
 * dry-run. An outage is played from a timeline; the agents' own markers must prove the order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoFleet } from '../../cli/demo/demo-fleet.js';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';
import { assertStepsInOrder, DEMO_STEPS, demoMarker } from '../support/demo-order.js';

describe('fleet shutdown with real master and agent processes', () => {
  let fleet: RunningFleet;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-it-'));
    // the demo's fleet and outage, so the demo shows exactly what this test checks
    fleet = await launchFleet(demoFleet(dir));
    await waitForAgents(fleet, 30_000);
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 120_000);
  });

  after(async () => {
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const markerOf = (id: string): PowerOffMarker => demoMarker(fleet, id);

  it('confirms every agent of step n before any agent of step n+1 gets its order', () => {
    assertStepsInOrder(fleet);
    for (const id of DEMO_STEPS.flat()) {
      const m = markerOf(id);
      assert.equal(m.dryRun, true);
      assert.ok(m.orderReceivedAt! <= m.ts);
    }
  });

  it('sends killpower after the last step, then the master would power off', () => {
    const journal = fleet.journal();
    const killpower = journal.find((e) => e.kind === 'killpower');
    assert.ok(killpower, 'no killpower in the journal');
    assert.equal(killpower.command, 'shutdown.return');
    assert.equal(killpower.ok, true);
    const lastAgentDown = Math.max(...fleet.agents.map((a) => markerOf(a.id).ts));
    assert.ok((killpower.ts as number) > lastAgentDown, 'killpower came before an agent was down');
    const master = JSON.parse(
      readFileSync(join(dir, 'markers', 'master.poweroff'), 'utf8'),
    ) as PowerOffMarker;
    assert.ok(master.ts >= (killpower.ts as number));
  });

  it('keeps going after mains return mid-sequence (the load is power-cycled)', () => {
    const journal = fleet.journal();
    const critical = journal.findIndex((e) => e.kind === 'critical');
    const online = journal.findIndex((e, i) => i > critical && e.kind === 'event' && e.event === 'ONLINE');
    assert.ok(critical >= 0, 'the outage never became critical');
    assert.ok(online > critical, 'the timeline brings mains back after the sequence started');
    assert.ok(
      journal.findIndex((e) => e.kind === 'killpower') > online,
      'the sequence stopped when mains returned',
    );
  });

  it('reports the fleet and the sequence on GET /status', async () => {
    const status = (await fleet.getJson('/status')) as {
      agents: Array<{ id: string; group: string; connected: boolean; dryRun: boolean }>;
      sequence: { state: string };
      ups: { vars: Record<string, string> };
    };
    assert.equal(status.agents.length, 6);
    assert.ok(
      status.agents.every((a) => a.connected && a.dryRun),
      'dry-run agents stay connected',
    );
    assert.equal(status.sequence.state, 'done');
    assert.equal(status.ups.vars['ups.status'], 'OL CHRG');
  });
});
