/** The nut_exporter-compatible series of /metrics (network_ups_tools_*), and the switch that turns them off. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computePlan } from '../../../master/plan/plan.js';
import type { SequenceView } from '../../../master/sequencer/sequence-view.js';
import { MasterMetrics } from '../../../master/servers/metrics.js';
import { nutExporterName, nutExporterValue } from '../../../master/servers/nut-exporter-metrics.js';
import type { HubSnapshot } from '../../../master/state/state-hub.js';

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

function metrics(hub: () => HubSnapshot, nutExporter?: boolean): MasterMetrics {
  return new MasterMetrics({
    masterId: 'm1',
    hub,
    critical: () => false,
    agents: () => [],
    groups: () => [],
    sequence: () => sequence,
    plan: () => computePlan({ steps: [], drill: null, marginMs: 60_000, runtime: undefined }),
    events: () => ({}),
    rejections: () => ({}),
    ...(nutExporter === undefined ? {} : { nutExporter }),
  });
}

function snapshot(vars: Record<string, string>, over: Partial<HubSnapshot> = {}): HubSnapshot {
  return { ups: 'rack', vars, waiting: false, stale: false, staleReason: null, updatedAt: 1, ...over };
}

const has = (text: string, line: string) =>
  assert.ok(text.includes(`\n${line}\n`), `missing: ${line}\n${text}`);

describe('nut_exporter-compatible metrics', () => {
  it('names variables as nut_exporter does and reads on/off words as 1/0', () => {
    assert.equal(nutExporterName('battery.charge'), 'network_ups_tools_battery_charge');
    assert.equal(nutExporterName('battery.voltage.high'), 'network_ups_tools_battery_voltage_high');
    assert.equal(nutExporterName('ups.beeper-status'), 'network_ups_tools_ups_beeper_status');
    assert.equal(nutExporterValue('230.5'), 230.5);
    assert.equal(nutExporterValue('enabled'), 1);
    assert.equal(nutExporterValue('Disabled'), 0);
    assert.equal(nutExporterValue('Back-UPS'), null);
    assert.equal(nutExporterValue(''), null);
  });

  it('exports numeric variables, status flags with the usual ones at 0, and device_info', async () => {
    let vars: Record<string, string> = {
      'battery.charge': '87',
      'battery.runtime': '900',
      'input.voltage': '229.8',
      'ups.load': '23',
      'ups.beeper.status': 'enabled',
      'ups.status': 'OB DISCHRG',
      'device.mfr': 'ACME',
      'device.model': 'Smart 1500',
      'device.serial': 'S123',
      'device.type': 'ups',
      'ups.mfr': 'ACME',
    };
    const m = metrics(() => snapshot(vars));
    let text = await m.text();
    has(text, 'network_ups_tools_battery_charge{ups="rack"} 87');
    has(text, 'network_ups_tools_battery_runtime{ups="rack"} 900');
    has(text, 'network_ups_tools_input_voltage{ups="rack"} 229.8');
    has(text, 'network_ups_tools_ups_load{ups="rack"} 23');
    has(text, 'network_ups_tools_ups_beeper_status{ups="rack"} 1');
    has(text, 'network_ups_tools_ups_status{ups="rack",flag="OB"} 1');
    has(text, 'network_ups_tools_ups_status{ups="rack",flag="DISCHRG"} 1');
    has(text, 'network_ups_tools_ups_status{ups="rack",flag="OL"} 0');
    has(text, 'network_ups_tools_ups_status{ups="rack",flag="SD"} 0');
    has(
      text,
      'network_ups_tools_device_info{ups="rack",model="Smart 1500",mfr="ACME",serial="S123",type="ups",description="",contact="",location="",part="",macaddr=""} 1',
    );
    assert.doesNotMatch(text, /network_ups_tools_ups_mfr/, 'a string variable is not a series');
    // upsfleet's own series are still there
    has(text, 'upsfleet_ups_battery_charge_percent{ups="rack"} 87');

    // a variable the UPS stops reporting disappears; a new one appears
    vars = { 'battery.charge': '80', 'ups.status': 'OL', 'output.voltage': '230' };
    text = await m.text();
    has(text, 'network_ups_tools_battery_charge{ups="rack"} 80');
    has(text, 'network_ups_tools_output_voltage{ups="rack"} 230');
    assert.doesNotMatch(text, /network_ups_tools_input_voltage/);
    has(text, 'network_ups_tools_ups_status{ups="rack",flag="OL"} 1');
  });

  it('shows nothing of the UPS while the source has no fresh data', async () => {
    let snap = snapshot({ 'battery.charge': '87', 'ups.status': 'OL' }, { stale: true });
    const m = metrics(() => snap);
    let text = await m.text();
    assert.doesNotMatch(text, /^network_ups_tools_\w+\{/m);
    snap = { ...snap, stale: false };
    text = await m.text();
    has(text, 'network_ups_tools_battery_charge{ups="rack"} 87');
  });

  it('is turned off by nutExporter: false', async () => {
    const text = await metrics(() => snapshot({ 'battery.charge': '87', 'ups.status': 'OL' }), false).text();
    assert.doesNotMatch(text, /network_ups_tools_/);
    has(text, 'upsfleet_ups_battery_charge_percent{ups="rack"} 87');
  });
});
