/**
 * A master whose configured source cannot be loaded at all (usbhid without node-hid) must not run blind
 * while systemd shows it active: it logs a fatal line (journald priority 2) and exits 8, which the unit's
 * RestartPreventExitStatus= keeps failed. A real master process from the sources.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'cli/main.ts');
const WITHOUT_PACKAGES = join(ROOT, 'test/support/without-packages.mjs');

describe('master with a source it cannot load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-nohid-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('usbhid without node-hid: a fatal log line with HID_UNAVAILABLE, exit 8', () => {
    const config = join(dir, 'master.yaml');
    writeFileSync(
      config,
      [
        'master: { id: m1, listen: "127.0.0.1:0", stateDir: state }',
        'ups:',
        '  source: { type: usbhid }',
        'sequence: []',
        'shutdown: { dryRun: true }',
      ].join('\n'),
    );
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--import', WITHOUT_PACKAGES, CLI, 'master', '-c', config],
      // the journal format, as under systemd: the fatal line must carry priority 2
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, UPSFLEET_LOG_FORMAT: 'journal', UPSFLEET_TEST_WITHOUT: 'node-hid' },
      },
    );
    assert.equal(r.status, 8, `${r.stdout}\n${r.stderr}`);
    const fatal = r.stdout.split('\n').find((l) => l.includes('the master could not start'));
    assert.ok(fatal, r.stdout);
    assert.match(fatal, /^<2>\{"level":60,/);
    assert.match(fatal, /"code":"HID_UNAVAILABLE"/);
    assert.match(r.stderr, /node-hid could not be loaded .*\[HID_UNAVAILABLE\]/);
  });

  it('the master unit does not restart on exit 3 or 8 (it stays failed)', () => {
    const unit = readFileSync(join(ROOT, 'deploy/systemd/upsfleet-master.service'), 'utf8');
    assert.match(unit, /^RestartPreventExitStatus=3 8$/m);
  });
});
