/** deploy/systemd: `systemd-analyze verify` accepts both units without a warning (works without a running systemd). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../deploy/systemd/', import.meta.url));
const UNITS = ['upsfleet-master.service', 'upsfleet-agent.service'];

describe('systemd units', () => {
  it('systemd-analyze verify accepts them', (t) => {
    if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) {
      t.skip('systemd-analyze not installed (Debian package systemd): unit verification skipped');
      return;
    }
    const r = spawnSync('systemd-analyze', ['verify', ...UNITS.map((u) => join(DIR, u))], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    // unknown keys are only warnings: none is accepted
    assert.equal(r.stderr.trim(), '', r.stderr);
  });

  for (const unit of UNITS) {
    it(`${unit}: Type=notify with a watchdog, restart on failure`, () => {
      const text = readFileSync(join(DIR, unit), 'utf8');
      for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=30s', 'Restart=on-failure']) {
        assert.match(text, new RegExp(`^${line}$`, 'm'), `${unit} lacks ${line}`);
      }
      // journald: tagged with the unit's own name (not `env`/`node`), <N> prefixes read as priorities
      const name = unit.replace('.service', '');
      assert.match(text, new RegExp(`^SyslogIdentifier=${name}$`, 'm'));
      assert.match(text, /^SyslogLevelPrefix=yes$/m);
      assert.doesNotMatch(text, /^ExecStart=\/usr\/bin\/env /m);
      // a bad configuration cannot heal by restarting: the unit must end failed
      assert.match(text, /^RestartPreventExitStatus=3\b/m);
      // these would break the power-off path or V8
      for (const bad of ['PrivateDevices=yes', 'MemoryDenyWriteExecute=yes', 'SystemCallFilter=']) {
        assert.ok(!new RegExp(`^${bad}`, 'm').test(text), `${unit} sets ${bad}`);
      }
    });
  }
});
