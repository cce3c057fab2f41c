/**
 * Decode failures made visible (issue 11, item 4), on real captures over the replay binding: undecodable
 * and truncated reports are counted per report ID (health(), /status `ups.sourceHealth`, /metrics) and
 * logged at warn once per report ID; a report not refreshed for N polls makes its variables stale.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Master } from '../../../master/master.js';
import { registerSourceHealthMetrics } from '../../../master/sources/source-health-metrics.js';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import { createUsbhidSource } from '../../../master/sources/usbhid/usbhid-source.js';
import { ManualClock } from '../../../shared/clock.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { createLogger, silentLogger } from '../../../shared/logger.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import { loadFixture } from './fixtures.js';

const flush = async () => {
  for (let i = 0; i < 400; i++) await new Promise<void>((r) => setImmediate(r));
};

async function started(file: string) {
  const { capture } = loadFixture(file);
  const binding = new ReplayBinding(capture);
  const clock = new ManualClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    name: 'test',
    level: 'warn',
    stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const updates: UpsVars[] = [];
  const source = createUsbhidSource({
    upsName: 'ups',
    binding,
    clock,
    logger,
    pollIntervalMs: 2000,
    fullPollIntervalMs: 30_000,
    staleAfterPolls: 3,
  });
  await source.start({ update: (v) => updates.push(v), comm: () => {} });
  const poll = async (n = 1) => {
    for (let i = 0; i < n; i++) {
      clock.advance(2000);
      await flush();
    }
  };
  const warnings = (reportId: number) =>
    lines.filter(
      (l) => l.level === 40 && l.reportId === reportId && /once per report ID/.test(String(l.msg)),
    );
  return { capture, binding, source, updates, poll, warnings };
}

describe('decode failures are visible', () => {
  it('a truncated answer is counted at every poll, decoded as far as it goes, and logged once', async () => {
    const { capture, binding, source, poll, warnings } = await started('powercom-bnt-800ap-online.json');
    assert.equal(source.health().truncated, 0);
    const full = capture.featureReports['55']!; // RunTimeToEmpty, 16 bits after the ID
    binding.setFeatureReport(full.slice(0, full.length - 2)); // the real report, its last byte cut
    await poll(3);
    const health = source.health();
    assert.equal(health.truncated, 3);
    assert.deepEqual(health.byReport['55'], { undecodable: 0, truncated: 3 });
    assert.equal(warnings(55).length, 1, 'warned once for report 55');
    await source.stop();
  });

  it('an input report the descriptor does not declare is counted as undecodable and logged once', async () => {
    const { binding, source, warnings, updates } = await started('powercom-bnt-800ap-online.json');
    const before = updates.length;
    binding.emitInput('ee0102');
    binding.emitInput('ee0102');
    assert.equal(source.health().undecodable, 2);
    assert.deepEqual(source.health().byReport['238'], { undecodable: 2, truncated: 0 });
    assert.equal(warnings(238).length, 1);
    assert.equal(updates.length, before, 'nothing published from it');
    await source.stop();
  });

  it('a report not refreshed for 3 polls makes its variables stale; a fresh answer clears it', async () => {
    const { capture, binding, source, poll } = await started('powercom-bnt-800ap-online.json');
    binding.stopAnswering(55);
    await poll(2);
    assert.deepEqual(source.health().staleVariables, [], 'two missed polls: not yet');
    await poll(1);
    assert.deepEqual(source.health().staleReports, [55]);
    assert.ok(source.health().staleVariables.includes('battery.runtime'));
    await poll(45); // three full polls too: the IDs this UPS never answered hold no value, so none is stale
    assert.deepEqual(source.health().staleReports, [55]);
    assert.equal(source.variables()['battery.runtime'], '2100', 'the last value stays published');

    const registry = new Registry();
    registerSourceHealthMetrics(registry, () => source.health());
    assert.match(await registry.metrics(), /upsfleet_ups_variable_stale\{variable="battery.runtime"\} 1/);

    binding.setFeatureReport(capture.featureReports['55']!);
    await poll(1);
    assert.deepEqual(source.health().staleVariables, []);
    await source.stop();
  });
});

describe('a master on a usbhid source (replay binding, real sockets on 127.0.0.1)', () => {
  it('GET /status shows ups.sourceHealth and /metrics its series; WAIT until the UPS reported its line status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-hidhealth-'));
    const { capture } = loadFixture('unknown-5131-2007.json');
    const binding = new ReplayBinding({ ...capture, inputReports: [] });
    const source = createUsbhidSource({ upsName: 'ups', binding, pollIntervalMs: 60_000 });
    const settings = parseMasterSettings(
      JSON.stringify({
        master: { id: 'hid', listen: '127.0.0.1:0', stateDir: 'state', mdns: false },
        ups: { name: 'ups', source: { type: 'simulated', script: 'ups.status: OL\n' } },
        sequence: [{ groups: ['app'], deadline: '60s', settle: '0s' }],
        agents: [],
        shutdown: { dryRun: true },
      }),
      join(dir, 'master.yaml'),
    );
    const master = new Master(settings, { logger: silentLogger(), source });
    try {
      const { port } = await master.start();
      const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
      type Status = { ups: { waiting: boolean; vars: Record<string, string>; sourceHealth: unknown } };
      let status = JSON.parse(await get('/status')) as Status;
      assert.equal(status.ups.waiting, true, 'no line status read: the master waits (NUT: WAIT)');
      assert.equal(status.ups.vars['ups.status'], undefined);

      binding.emitInput('ee0102');
      binding.emitInput(capture.inputReports![0]!);
      await flush();
      status = JSON.parse(await get('/status')) as Status;
      assert.equal(status.ups.waiting, false);
      assert.equal(status.ups.vars['ups.status'], 'OL');
      assert.deepEqual(status.ups.sourceHealth, {
        undecodable: 1,
        truncated: 0,
        byReport: { '238': { undecodable: 1, truncated: 0 } },
        staleReports: [],
        staleAfterPolls: 3,
        staleVariables: [],
      });
      assert.match(await get('/metrics'), /upsfleet_source_reports_undecodable_total\{report="238"\} 1/);
    } finally {
      await master.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
