import assert from 'node:assert/strict';
import { it } from 'node:test';
import { loadAgentSettings } from '../../../shared/config/agent-settings.js';
import { loadMasterSettings } from '../../../shared/config/master-settings.js';

it('the example configs in examples/ are valid', () => {
  const master = loadMasterSettings('examples/master.yaml');
  assert.equal(master.sequence.length, 3);
  assert.equal(master.earlyGroups[0]?.name, 'lab');
  assert.equal(master.earlyGroups[0]?.trigger.onBatteryForMs, 60_000);
  assert.equal(master.policy.critical.runtimeBelowMs, 300_000);
});

it('the example agent config resolves its token file relative to itself', () => {
  // the token file does not exist here: the loader must say which file it could not read
  assert.throws(
    () => loadAgentSettings('examples/agent.yaml'),
    /\/agent\/tokenFile: cannot read \/etc\/upsfleet\/agent\.token/,
  );
});
