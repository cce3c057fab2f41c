/**
 * A NUT port off loopback on a master without TLS (issue 14): no NUT client could log in from another host
 * except in clear, so the config is refused with the way out, unless the operator opts in with
 * nut.allowPlaintextLogin. On loopback, or with TLS, nothing to say.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { NutServer } from '../../../master/nut/server/nut-server.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { ManualClock } from '../../../shared/clock.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { captureLogger } from '../trust/helpers.js';
import { FakeSource } from './helpers.js';

const config = (tls: string, nut: string) =>
  [
    `master: { id: m, listen: "127.0.0.1:8740"${tls} }`,
    'ups:',
    '  source: { type: simulated }',
    'sequence: [ { groups: [app] } ]',
    `nut: ${nut}`,
  ].join('\n');

test('a plain master with its NUT port off loopback is refused, with what to do', () => {
  assert.throws(
    () =>
      parseMasterSettings(config(', tls: { insecure: true }', '{ listen: "0.0.0.0:3493" }'), '/tmp/m.yaml'),
    (e: unknown) =>
      /nut\/listen/.test(String(e)) && /allowPlaintextLogin/.test(String(e)) && /TLS/.test(String(e)),
  );
});

test('the explicit opt-in, a loopback NUT port or TLS are accepted', () => {
  const plainOptIn = parseMasterSettings(
    config(', tls: { insecure: true }', '{ listen: "0.0.0.0:3493", allowPlaintextLogin: true }'),
    '/tmp/m.yaml',
  );
  assert.equal(plainOptIn.nut?.allowPlaintextLogin, true);
  parseMasterSettings(config(', tls: { insecure: true }', '{ listen: "127.0.0.1:3493" }'), '/tmp/m.yaml');
  parseMasterSettings(config('', '{ listen: "0.0.0.0:3493" }'), '/tmp/m.yaml');
});

test('the opt-in is a warning at start', async () => {
  for (const [allowPlaintextLogin, listen, level, pattern] of [
    [true, '127.0.0.1:0', 40, /allowPlaintextLogin is on/],
  ] as const) {
    const log = captureLogger();
    const server = new NutServer({
      config: { listen, allowPlaintextLogin },
      hub: new StateHub('ups', new ManualClock()),
      registry: new FleetRegistry(),
      source: new FakeSource(),
      clock: new ManualClock(),
      logger: log.logger,
      onFsd: () => {},
    });
    await server.start();
    await server.stop();
    const line = log.find((l) => pattern.test(String(l.msg)));
    assert.ok(line, `no start line matching ${pattern}`);
    assert.equal(line.level, level);
  }
});
