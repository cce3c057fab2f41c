/**
 * The master's NUT server against the real NUT clients: upsc (-l, -c, one variable, all variables),
 * upsrw and upscmd with and without the right credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FleetRegistry } from '../../master/fleet/registry.js';
import { NutServer } from '../../master/nut/server/nut-server.js';
import { StateHub } from '../../master/state/state-hub.js';
import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import { formatUpscLines } from '../../shared/nut/ups-state.js';
import { FakeSource, VARS } from '../unit/nut/helpers.js';
import { NUT_BIN, nutMissing, run } from './nut-sandbox.js';

const skip = nutMissing(['upsc', 'upsrw', 'upscmd']);

describe('NUT server with upsc, upsrw, upscmd', { skip }, () => {
  const hub = new StateHub('ups', systemClock);
  const registry = new FleetRegistry();
  const source = new FakeSource();
  let server: NutServer;
  let addr: string;
  before(async () => {
    hub.publishVars({ ...VARS, 'ups.id': 'rack 1' });
    server = new NutServer({
      config: {
        listen: '127.0.0.1:0',
        users: [
          { name: 'admin', password: 'adminpass', actions: ['set'], instcmds: ['all'] },
          { name: 'viewer', password: 'viewerpass', upsmon: 'secondary' },
        ],
      },
      hub,
      registry,
      source,
      clock: systemClock,
      logger: silentLogger(),
      onFsd: () => {},
      description: 'Rack UPS',
    });
    const { port } = await server.start();
    addr = `ups@127.0.0.1:${port}`;
  });
  after(async () => {
    await server.stop();
  });

  test('upsc prints the variables the hub holds', async () => {
    const r = await run(NUT_BIN.upsc, [addr]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd(), formatUpscLines(hub.snapshot().vars));
    const one = await run(NUT_BIN.upsc, [addr, 'device.model']);
    assert.equal(one.stdout.trim(), VARS['device.model']);
    const missing = await run(NUT_BIN.upsc, [addr, 'no.such']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Variable not supported by UPS/);
  });

  test('upsc -l lists the UPS, upsc -c the logged-in clients', async () => {
    const port = addr.split(':')[1]!;
    const l = await run(NUT_BIN.upsc, ['-l', `127.0.0.1:${port}`]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout.trim(), 'ups');
    const sock = await import('../unit/nut/helpers.js').then((m) => m.LineClient.open(Number(port)));
    await sock.login('viewer', 'viewerpass');
    const c = await run(NUT_BIN.upsc, ['-c', addr]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout.trim(), '127.0.0.1');
    sock.destroy();
  });

  test('upsrw lists and sets with credentials, refused without', async () => {
    const list = await run(NUT_BIN.upsrw, [addr]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /\[battery\.charge\.low\]/);
    assert.match(list.stdout, /ups\.beeper\.status/);
    const ok = await run(NUT_BIN.upsrw, ['-s', 'ups.id=rack 2', '-u', 'admin', '-p', 'adminpass', addr]);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.ok(source.calls.includes('SET ups.id=rack 2'), source.calls.join());
    const denied = await run(NUT_BIN.upsrw, ['-s', 'ups.id=x', '-u', 'viewer', '-p', 'viewerpass', addr]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr + denied.stdout, /access denied|ACCESS-DENIED/i);
    const badPass = await run(NUT_BIN.upsrw, ['-s', 'ups.id=x', '-u', 'admin', '-p', 'wrong', addr]);
    assert.notEqual(badPass.code, 0);
    assert.ok(!source.calls.includes('SET ups.id=x'));
  });

  test('upscmd lists and runs commands with credentials, refused without', async () => {
    const list = await run(NUT_BIN.upscmd, ['-l', addr]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /shutdown\.return - Turn off the load and return when power is back/);
    const ok = await run(NUT_BIN.upscmd, ['-u', 'admin', '-p', 'adminpass', addr, 'load.off.delay', '60']);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.ok(source.calls.includes('INSTCMD load.off.delay 60'), source.calls.join());
    const denied = await run(NUT_BIN.upscmd, ['-u', 'viewer', '-p', 'viewerpass', addr, 'beeper.toggle']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr + denied.stdout, /access denied|ACCESS-DENIED/i);
    assert.ok(!source.calls.includes('INSTCMD beeper.toggle'));
  });
});
