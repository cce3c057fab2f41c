/** What the master tells each agent to add to its deadtime when the master is lost while on battery. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lostMasterDelayMs } from '../../../master/servers/lost-master-delay.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';

const HASH = `sha256:${'a'.repeat(64)}`;

test('(step - 1) × spacing: step 1 waits its plain deadtime, an early group (no step) too', () => {
  assert.equal(lostMasterDelayMs(1, 15_000), 0);
  assert.equal(lostMasterDelayMs(2, 15_000), 15_000);
  assert.equal(lostMasterDelayMs(3, 15_000), 30_000);
  assert.equal(lostMasterDelayMs(null, 15_000), 0);
  assert.equal(lostMasterDelayMs(5, 0), 0);
});

test('policy.lostMasterSpacing is a duration, 15s by default', () => {
  const yaml = (policy: string) =>
    `master:\n  id: m1\nups:\n  source:\n    type: simulated\n    script: "ups.status: OL"\n${policy}sequence:\n  - groups: [vms]\nagents:\n  - { id: a1, group: vms, tokenHash: "${HASH}" }\n`;
  assert.equal(parseMasterSettings(yaml(''), '/etc/upsfleet/master.yaml').policy.lostMasterSpacingMs, 15_000);
  assert.equal(
    parseMasterSettings(yaml('policy:\n  lostMasterSpacing: 1m30s\n'), '/etc/upsfleet/master.yaml').policy
      .lostMasterSpacingMs,
    90_000,
  );
  assert.throws(() => parseMasterSettings(yaml('policy:\n  lostMasterSpacing: soon\n'), '/m.yaml'));
});
