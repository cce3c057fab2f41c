/** /metrics content from the master's views (the format itself is checked by promtool in the drill test). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computePlan } from '../../../master/plan/plan.js';
import type { SequenceView } from '../../../master/sequencer/sequence-view.js';
import { MasterMetrics } from '../../../master/servers/metrics.js';

describe('master metrics', () => {
  it('exports UPS variables, flags, agents per group, sequence state, plan and counters', async () => {
    const sequence: SequenceView = {
      state: 'idle',
      runId: null,
      reason: null,
      drill: false,
      startedAt: null,
      endedAt: null,
      steps: [],
      early: [],
      final: { startedAt: null, endedAt: null, error: null },
      ignoredMessages: 0,
    };
    const m = new MasterMetrics({
      masterId: 'm1',
      hub: () => ({
        ups: 'ups',
        vars: {
          'battery.charge': '87',
          'battery.runtime': '900',
          'ups.status': 'OB DISCHRG',
          'ups.mfr': 'ACME',
        },
        waiting: false,
        stale: false,
        staleReason: null,
        updatedAt: 5000,
      }),
      critical: () => false,
      agents: () => [
        {
          id: 'a1',
          kind: 'agent',
          group: 'vms',
          connected: true,
          lastSeen: 1000,
          version: '1',
          dryRun: false,
          address: null,
        },
        {
          id: 'a2',
          kind: 'agent',
          group: 'vms',
          connected: false,
          lastSeen: null,
          version: null,
          dryRun: false,
          address: null,
        },
      ],
      groups: () => ['vms', 'db'],
      sequence: () => sequence,
      plan: () => computePlan({ steps: [], drill: null, marginMs: 60_000, runtime: '900' }),
      events: () => ({ ONBATT: 2 }),
      rejections: () => ({ AUTH_FAILED: 3 }),
    });
    const text = await m.text();
    for (const line of [
      'upsfleet_ups_battery_charge_percent{ups="ups"} 87',
      'upsfleet_ups_variable{ups="ups",variable="battery.runtime"} 900',
      'upsfleet_ups_status{ups="ups",flag="OB"} 1',
      'upsfleet_ups_status{ups="ups",flag="OL"} 0',
      'upsfleet_agents_connected{group="vms"} 1',
      'upsfleet_agents_connected{group="db"} 0',
      'upsfleet_agents_known{group="vms"} 2',
      'upsfleet_sequence_state{state="idle"} 1',
      'upsfleet_plan_fits 1',
      'upsfleet_power_events_total{event="ONBATT"} 2',
      'upsfleet_rejected_messages_total{code="AUTH_FAILED"} 3',
    ]) {
      assert.ok(text.includes(`\n${line}\n`), `missing: ${line}`);
    }
    assert.ok(!text.includes('ups.mfr'), 'non-numeric variables are not exported');
  });
});
