/**
 * The `nut` source against a real upsd + dummy-ups playing a `.seq` outage (OL -> OB -> OB LB):
 * it publishes those statuses, forwards instant commands, and reports COMMBAD when the driver stops.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNutSource } from '../../master/nut/source/nut-source.js';
import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import type { UpsVars } from '../../shared/nut/ups-state.js';
import { freePort, NutSandbox, nutMissing, waitFor } from './nut-sandbox.js';

const skip = nutMissing(['upsd', 'dummyUps', 'upsc']);

const OUTAGE = `ups.mfr: Sandbox
ups.model: Outage 1500
battery.charge: 100
battery.runtime: 1800
ups.status: OL
TIMER 5
ups.status: OB DISCHRG
battery.charge: 60
TIMER 2
ups.status: OB DISCHRG LB
battery.charge: 10
TIMER 30
`;

test('nut source follows a real upsd + dummy-ups outage and reports COMMBAD when the driver stops', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const sb = new NutSandbox();
  const port = await freePort();
  sb.configureUpsd({
    port,
    upsName: 'dummy',
    seq: OUTAGE,
    users: [
      { name: 'master', password: 'masterpass', upsmon: 'secondary', instcmds: ['all'], actions: ['set'] },
    ],
  });
  const driver = sb.startDummyUps('dummy');
  await sb.startUpsd(port);
  const statuses: string[] = [];
  const comm: Array<[boolean, string]> = [];
  let last: UpsVars = {};
  const src = createNutSource({
    config: {
      type: 'nut',
      host: '127.0.0.1',
      port,
      ups: 'dummy',
      username: 'master',
      password: 'masterpass',
      pollInterval: '500ms',
    },
    upsName: 'ups',
    clock: systemClock,
    logger: silentLogger(),
  });
  t.after(async () => {
    await src.stop();
    await sb.stop();
  });
  try {
    await src.start({
      update: (vars) => {
        last = vars;
        const s = vars['ups.status'] ?? '';
        if (statuses.at(-1) !== s) statuses.push(s);
      },
      comm: (ok, reason) => comm.push([ok, reason]),
    });
    await waitFor(() => statuses.includes('OB DISCHRG LB'), 'OB DISCHRG LB from dummy-ups', 30_000);
    // the source starts after the driver's first pass: OL (5 s) is seen, then the outage in order
    assert.deepEqual(statuses, ['OL', 'OB DISCHRG', 'OB DISCHRG LB']);
    assert.equal(last['ups.model'], 'Outage 1500');
    assert.equal(last['battery.charge'], '10');
    // dummy-ups has no instant commands: upsd's refusal comes back as a typed error
    await assert.rejects(src.instantCommand('shutdown.return'), (e: Error & { code?: string }) => {
      assert.match(String(e.code), /SOURCE_COMMAND_UNSUPPORTED|NUT_ERROR/, e.message);
      return true;
    });
    // the LOGIN counts on upsd
    const numlogins = await import('./nut-sandbox.js').then((m) =>
      m.run(m.NUT_BIN.upsc, ['-c', `dummy@127.0.0.1:${port}`], sb.env),
    );
    assert.match(numlogins.stdout, /127\.0\.0\.1/);
    await driver.stop();
    await waitFor(() => comm.some(([ok]) => !ok), 'COMMBAD after dummy-ups stopped', 30_000);
    const bad = comm.find(([ok]) => !ok)!;
    assert.match(bad[1], /DRIVER-NOT-CONNECTED|DATA-STALE/);
  } catch (err) {
    (err as Error).message +=
      `\nstatuses=${JSON.stringify(statuses)} comm=${JSON.stringify(comm)}\n${sb.logs()}`;
    throw err;
  }
});
