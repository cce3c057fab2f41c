/**
 * One-shot `upsfleet probe` on a device (the replay binding, real captures): it reads interrupt-IN reports
 * too and `--capture` records them (issue 11, bug 5), and its list shows every HID device whose report
 * descriptor uses the Power Device or Battery System page, not only a top-level 0x84 (bug 7).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ExitCodes } from '../../../cli/commands/command.js';
import { createProbeCommand } from '../../../cli/commands/probe.js';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import { parseCapture } from '../../../master/sources/usbhid/capture-file.js';
import { ManualClock } from '../../../shared/clock.js';
import { loadFixture } from './fixtures.js';

const flush = async () => {
  for (let i = 0; i < 200; i++) await new Promise<void>((r) => setImmediate(r));
};

function probeWith(binding: ReplayBinding, clock = new ManualClock()) {
  const command = createProbeCommand({ binding: () => binding, clock });
  return (argv: string[]) => {
    const out = { stdout: '', stderr: '' };
    const done = command(argv, { stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t) });
    return { out, done };
  };
}

describe('probe on a device', () => {
  it('reads interrupt-IN reports: 5131:2007 shows runtime and status that only its input report carries', async () => {
    const { capture } = loadFixture('unknown-5131-2007.json');
    const binding = new ReplayBinding(capture);
    const run = probeWith(binding);
    const { out, done } = run(['--path', binding.info.path, '--json']);
    assert.equal(await done, ExitCodes.OK, out.stderr);
    const vars = JSON.parse(out.stdout) as Record<string, string>;
    assert.equal(vars['battery.runtime'], '0');
    assert.equal(vars['ups.status'], 'OL');
  });

  it('--capture records the input reports, and the capture replays to what the live probe printed', async () => {
    const { capture } = loadFixture('unknown-5131-2007.json');
    const binding = new ReplayBinding(capture);
    const file = join(mkdtempSync(join(tmpdir(), 'upsfleet-probe-')), 'capture.json');
    const live = probeWith(binding)(['--path', binding.info.path, '--capture', file, '--json']);
    assert.equal(await live.done, ExitCodes.OK, live.out.stderr);
    const written = parseCapture(readFileSync(file, 'utf8'), file).capture;
    assert.deepEqual(written.inputReports, capture.inputReports);
    assert.deepEqual(written.featureReports, capture.featureReports);
    const replay = probeWith(binding)(['--replay', file, '--json']);
    assert.equal(await replay.done, ExitCodes.OK, replay.out.stderr);
    assert.deepEqual(JSON.parse(replay.out.stdout), JSON.parse(live.out.stdout));
  });

  it('waits for an input report that no GET_REPORT answer covers, then says what stayed missing', async () => {
    const { capture } = loadFixture('unknown-5131-2007.json');
    const binding = new ReplayBinding({ ...capture, inputReports: [] });
    const clock = new ManualClock();
    const { out, done } = probeWith(binding, clock)(['--path', binding.info.path, '--json']);
    await flush();
    let finished = false;
    void done.then(() => (finished = true));
    await flush();
    assert.equal(finished, false, 'still listening for input report 11');
    binding.emitInput(capture.inputReports![0]!);
    assert.equal(await done, ExitCodes.OK);
    assert.equal((JSON.parse(out.stdout) as Record<string, string>)['ups.status'], 'OL');

    const silent = new ReplayBinding({ ...capture, inputReports: [] });
    const quiet = probeWith(silent, clock)(['--path', silent.info.path, '--json']);
    await flush();
    clock.advance(3000);
    assert.equal(await quiet.done, ExitCodes.OK);
    const vars = JSON.parse(quiet.out.stdout) as Record<string, string>;
    assert.equal(vars['ups.status'], undefined, 'no status read: none invented');
    assert.match(quiet.out.stderr, /no input report 11 arrived/);
  });

  it('asks Input-only report IDs too when capturing (APC Smart-UPS 3000 report 137)', async () => {
    const { capture } = loadFixture('apc-smart-ups-3000.json');
    const binding = new ReplayBinding(capture);
    const clock = new ManualClock();
    const { out, done } = probeWith(binding, clock)(['--path', binding.info.path, '--json']);
    await flush();
    clock.advance(3000);
    assert.equal(await done, ExitCodes.OK);
    assert.match(out.stderr, /reports not answered to GET_REPORT: [0-9, ]*\b137\b/, 'report 137 was asked');
  });
});

describe('probe device list', () => {
  it('lists a UPS whose first top-level collection is not on the Power Device page and whose vendor is unknown', async () => {
    const { capture } = loadFixture('unknown-5131-2007.json');
    // As hidapi lists it when the descriptor opens on another page (0xff00, a vendor page).
    const binding = new ReplayBinding(capture, '/dev/hidraw3', { usagePage: 0xff00 });
    const { out, done } = probeWith(binding)([]);
    assert.equal(await done, ExitCodes.OK, out.stdout + out.stderr);
    assert.match(out.stdout, /^5131\s+2007\s.*\/dev\/hidraw3/m);
  });

  it('lists the replay device with the usage page hidapi would report (its first top-level page, 0x84)', async () => {
    const binding = new ReplayBinding(loadFixture('eaton-5sc-750.json').capture);
    const [info] = await binding.list();
    assert.equal(info?.usagePage, 0x84);
  });
});
