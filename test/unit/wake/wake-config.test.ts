/** The `wake:` section of a group: defaults, normalization, and what the loader refuses. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';

const base = (groups: Record<string, unknown>, sequence = [{ groups: ['app'] }]) =>
  JSON.stringify({
    master: { id: 'm', listen: '127.0.0.1:0', mdns: false },
    ups: { source: { type: 'simulated', script: 'ups.status: OL\n' } },
    groups,
    sequence,
  });

describe('wake config', () => {
  it('resolves defaults and normalizes MACs', () => {
    const s = parseMasterSettings(
      base({ lab: { trigger: { onBatteryFor: '30s' }, wake: { macs: { lab1: 'AA-BB-CC-00-11-22' } } } }),
      '/tmp/m.yaml',
    );
    assert.deepEqual(s.earlyGroups[0]?.wake, {
      afterOnlineMs: 120_000,
      minCharge: 0,
      wol: { address: '255.255.255.255', port: 9 },
      macs: { lab1: 'aa:bb:cc:00:11:22' },
      command: null,
      timeoutMs: 30_000,
    });
    const t = parseMasterSettings(
      base({
        lab: {
          trigger: { onBatteryFor: '30s' },
          wake: {
            afterOnline: '5m',
            minCharge: 40,
            broadcast: '10.0.0.255:7',
            command: 'wake-it',
            timeout: 5,
          },
        },
      }),
      '/tmp/m.yaml',
    );
    assert.deepEqual(t.earlyGroups[0]?.wake?.wol, { address: '10.0.0.255', port: 7 });
    assert.equal(t.earlyGroups[0]?.wake?.afterOnlineMs, 300_000);
    assert.equal(t.earlyGroups[0]?.wake?.timeoutMs, 5000);
    assert.equal(t.earlyGroups[0]?.wake?.command, 'wake-it');
    const none = parseMasterSettings(base({ lab: { trigger: { onBatteryFor: '30s' } } }), '/tmp/m.yaml');
    assert.equal(none.earlyGroups[0]?.wake, undefined, 'no wake section: never woken');
  });

  it('refuses a wake on a group of the sequence, a bad MAC, a bad port, and a wake that can do nothing', () => {
    const refused = (groups: Record<string, unknown>, sequence?: Array<{ groups: string[] }>) =>
      assert.throws(() => parseMasterSettings(base(groups, sequence), '/tmp/m.yaml'), /wake/);
    refused({ app: { wake: {} } });
    refused({ lab: { trigger: { onBatteryFor: '30s' }, wake: { macs: { lab1: 'not-a-mac' } } } });
    refused({ lab: { trigger: { onBatteryFor: '30s' }, wake: { broadcast: '10.0.0.255:70000' } } });
    refused({ lab: { trigger: { onBatteryFor: '30s' }, wake: { wol: false } } });
  });
});
