/** `upsfleet udev-rule` for a given or detected UPS. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createUdevRuleCommand } from '../../../cli/commands/udev-rule.js';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import { loadFixture } from './fixtures.js';

async function run(argv: string[], binding?: ReplayBinding) {
  let stdout = '';
  let stderr = '';
  const cmd = createUdevRuleCommand(binding ? { binding: () => binding } : {});
  const code = await cmd(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('udev-rule', () => {
  it('prints the rule for the given ids, where it goes and how to reload', async () => {
    const { code, stdout, stderr } = await run(['--vendor', '051D', '--product', '0002', '--group', 'nut']);
    assert.equal(code, 0);
    assert.match(
      stdout,
      /^SUBSYSTEM=="hidraw", ATTRS\{idVendor\}=="051d", ATTRS\{idProduct\}=="0002", MODE="0660", GROUP="nut"$/m,
    );
    assert.match(stdout, /\/etc\/udev\/rules\.d\/90-upsfleet-ups\.rules/);
    assert.match(stderr, /udevadm control --reload-rules/);
  });

  it('uses the detected UPS when no ids are given', async () => {
    const binding = new ReplayBinding(loadFixture('cyberpower-cp1500avrlcda.json').capture);
    const { code, stdout } = await run([], binding);
    assert.equal(code, 0);
    assert.match(
      stdout,
      /ATTRS\{idVendor\}=="0764", ATTRS\{idProduct\}=="0501", MODE="0660", GROUP="upsfleet"/,
    );
  });

  it('refuses half a selector', async () => {
    assert.equal((await run(['--vendor', '051d'])).code, 2);
  });
});
