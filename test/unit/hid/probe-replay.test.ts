/**
 * `upsfleet probe --replay FILE --json` over every real capture: every `expected` variable exactly,
 * through the command handler; and through the real CLI process once cli/main.ts dispatches `probe`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ExitCodes } from '../../../cli/commands/command.js';
import { probeCommand } from '../../../cli/commands/probe.js';
import { fixtureFiles, loadFixture } from './fixtures.js';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await probeCommand(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('probe --replay', () => {
  for (const file of fixtureFiles()) {
    const name = file.split('/').pop()!;
    it(`${name}: --json gives every expected variable`, async () => {
      const { capture } = loadFixture(file);
      const { code, stdout, stderr } = await run(['--replay', file, '--json']);
      assert.equal(code, ExitCodes.OK, stderr);
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, 1, 'exactly one JSON object');
      const vars = JSON.parse(lines[0]!) as Record<string, string>;
      for (const value of Object.values(vars)) assert.equal(typeof value, 'string');
      for (const [k, v] of Object.entries(capture.expected ?? {})) assert.equal(vars[k], v, `${name}: ${k}`);
      const answered =
        Object.keys(capture.featureReports).length > 0 || (capture.inputReports ?? []).length > 0;
      // A descriptor without any report read says nothing about the line: no invented OL (issue 11).
      if (answered) assert.ok(vars['ups.status'], 'has ups.status');
      else assert.equal(vars['ups.status'], undefined, 'no ups.status from a descriptor alone');
      assert.equal(vars['ups.vendorid'], capture.device.vendorId);
      assert.equal(vars['ups.productid'], capture.device.productId);
    });
  }

  it('prints sorted `name: value` lines like upsc without --json', async () => {
    const { code, stdout } = await run(['--replay', join(fixtureFiles()[0]!)]);
    assert.equal(code, 0);
    const names = stdout
      .trim()
      .split('\n')
      .map((l) => l.slice(0, l.indexOf(': ')));
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('battery.charge'));
  });

  it('rejects a malformed capture with what and where, exit BAD_INPUT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-probe-'));
    const good = loadFixture('apc-back-ups-500.json').capture;
    const cases: Array<[string, string, RegExp]> = [
      ['not-json.json', '{"format": ', /not valid JSON/],
      ['wrong-format.json', JSON.stringify({ ...good, format: 'other/1' }), /\/format/],
      ['bad-hex.json', JSON.stringify({ ...good, featureReports: { '1': '01z' } }), /\/featureReports\/1/],
      [
        'bad-id.json',
        JSON.stringify({ ...good, featureReports: { '1': '0201' } }),
        /featureReports\/1 starts with report ID 2/,
      ],
      [
        'truncated-descriptor.json',
        JSON.stringify({ ...good, reportDescriptor: good.reportDescriptor.slice(0, 10) }),
        /reportDescriptor.*truncated/,
      ],
      ['no-device.json', JSON.stringify({ ...good, device: undefined }), /device/],
    ];
    for (const [file, text, message] of cases) {
      writeFileSync(join(dir, file), text);
      const { code, stderr } = await run(['--replay', join(dir, file), '--json']);
      assert.equal(code, ExitCodes.BAD_INPUT, file);
      assert.match(stderr, message, file);
      assert.match(stderr, new RegExp(file.replace('.', '\\.')), `${file}: names the file`);
    }
    const missing = await run(['--replay', join(dir, 'absent.json')]);
    assert.equal(missing.code, ExitCodes.BAD_INPUT);
  });

  it('rejects unknown arguments with a usage message', async () => {
    const { code, stderr } = await run(['--frobnicate']);
    assert.equal(code, ExitCodes.USAGE);
    assert.match(stderr, /usage: upsfleet probe/);
  });

  const main = resolve(import.meta.dirname, '../../../cli/main.ts');
  it('works through the real CLI process', { timeout: 60_000 }, async (t) => {
    if (!existsSync(main)) {
      t.skip('cli/main.ts does not exist yet');
      return;
    }
    const file = join(
      import.meta.dirname,
      '../../../../shared/fixtures/hid/powercom-bnt-800ap-onbattery.json',
    );
    const fixture = loadFixture(file);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', main, 'probe', '--replay', fixture.file, '--json'],
      {
        cwd: resolve(import.meta.dirname, '../../..'),
      },
    );
    const vars = JSON.parse(stdout) as Record<string, string>;
    for (const [k, v] of Object.entries(fixture.capture.expected ?? {})) assert.equal(vars[k], v, k);
  });
});
