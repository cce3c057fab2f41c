/** The `nut` source and the NUT client against a NUT server on a real socket (the master's own server as upsd). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readNutUps } from '../../../cli/commands/nut-status.js';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { parseNutAddress } from '../../../master/nut/client/nut-address.js';
import { NutServer } from '../../../master/nut/server/nut-server.js';
import { createNutSource } from '../../../master/nut/source/nut-source.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { systemClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import { FakeSource, USERS, until, VARS } from './helpers.js';

async function upstream(port = 0) {
  const hub = new StateHub('rack', systemClock);
  const fake = new FakeSource();
  const server = new NutServer({
    config: { listen: `127.0.0.1:${port}`, users: USERS },
    hub,
    registry: new FleetRegistry(),
    source: fake,
    clock: systemClock,
    logger: silentLogger(),
    onFsd: () => {},
  });
  const bound = await server.start();
  return { hub, fake, server, port: bound.port };
}

function recorder() {
  const updates: UpsVars[] = [];
  const comm: Array<[boolean, string]> = [];
  return {
    updates,
    comm,
    listener: {
      update: (v: UpsVars) => updates.push(v),
      comm: (ok: boolean, r: string) => comm.push([ok, r]),
    },
  };
}

test('parseNutAddress', () => {
  assert.deepEqual(parseNutAddress('ups@nas.local'), { ups: 'ups', host: 'nas.local', port: 3493 });
  assert.deepEqual(parseNutAddress('su700@10.0.0.2:3500'), { ups: 'su700', host: '10.0.0.2', port: 3500 });
  assert.deepEqual(parseNutAddress('ups@[::1]:3493'), { ups: 'ups', host: '::1', port: 3493 });
  assert.throws(() => parseNutAddress('nohost'), { code: 'NUT_ADDRESS_INVALID' });
  assert.throws(() => parseNutAddress('ups@h:99999'), { code: 'NUT_ADDRESS_INVALID' });
});

test('the nut source publishes LIST VAR, learns commands and writable variables, forwards INSTCMD and SET VAR', async (t) => {
  const up = await upstream();
  up.hub.publishVars({ ...VARS });
  const rec = recorder();
  const src = createNutSource({
    config: {
      type: 'nut',
      host: '127.0.0.1',
      port: up.port,
      ups: 'rack',
      username: 'admin',
      password: 'adminpass',
      pollInterval: '100ms',
    },
    upsName: 'ups',
    clock: systemClock,
    logger: silentLogger(),
  });
  t.after(async () => {
    await src.stop();
    await up.server.stop();
  });
  await src.start(rec.listener);
  assert.deepEqual(rec.updates[0], VARS);
  assert.deepEqual(src.commands().sort(), ['beeper.toggle', 'load.off.delay', 'shutdown.return']);
  assert.deepEqual(
    src.writableVariables().sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'battery.charge.low', type: 'RANGE', range: { min: 5, max: 90 } },
      { name: 'ups.beeper.status', type: 'ENUM', enum: ['enabled', 'disabled', 'muted'] },
      { name: 'ups.delay.shutdown', type: 'NUMBER' },
      { name: 'ups.id', type: 'STRING' },
    ],
  );
  up.hub.publishVars({ ...VARS, 'ups.status': 'OB DISCHRG' });
  await until(() => rec.updates.at(-1)?.['ups.status'] === 'OB DISCHRG', 'OB published');
  await src.instantCommand('shutdown.return');
  await src.setVariable('ups.id', 'rack "2"');
  assert.deepEqual(up.fake.calls, ['INSTCMD shutdown.return', 'SET ups.id=rack "2"']);
  await assert.rejects(src.instantCommand('load.off'), { code: 'SOURCE_COMMAND_UNSUPPORTED' });
  await assert.rejects(src.setVariable('battery.charge', '3'), { code: 'SOURCE_VARIABLE_READONLY' });
  assert.deepEqual(rec.comm, []);
});

test('DATA-STALE and connection loss are comm(false); recovery and reconnect are comm(true)', async (t) => {
  const up = await upstream();
  up.hub.publishVars({ 'ups.status': 'OL' });
  const rec = recorder();
  const src = createNutSource({
    config: { type: 'nut', host: '127.0.0.1', port: up.port, ups: 'rack', pollInterval: '50ms' },
    upsName: 'ups',
    clock: systemClock,
    logger: silentLogger(),
  });
  let second: Awaited<ReturnType<typeof upstream>> | undefined;
  t.after(async () => {
    await src.stop();
    await up.server.stop();
    await second?.server.stop();
  });
  await src.start(rec.listener);
  up.hub.publishComm(false, 'driver gone');
  await until(() => rec.comm.length === 1, 'comm false on DATA-STALE');
  assert.deepEqual(rec.comm[0], [false, 'upsd answers ERR DATA-STALE']);
  up.hub.publishComm(true, 'back');
  await until(() => rec.comm.length === 2, 'comm true');
  assert.equal(rec.comm[1]![0], true);
  await up.server.stop();
  await until(() => rec.comm.length === 3, 'comm false on connection loss');
  assert.equal(rec.comm[2]![0], false);
  second = await upstream(up.port);
  second.hub.publishVars({ 'ups.status': 'OB' });
  await until(() => rec.comm.length === 4, 'comm true after reconnect', 5000);
  assert.equal(rec.comm[3]![0], true);
  await until(() => rec.updates.at(-1)?.['ups.status'] === 'OB', 'data after reconnect');
});

test('an unreachable upsd does not make start() reject; it reports comm(false)', async (t) => {
  const rec = recorder();
  const src = createNutSource({
    config: { type: 'nut', host: '127.0.0.1', port: 1, ups: 'ups', pollInterval: 1 },
    upsName: 'ups',
    clock: systemClock,
    logger: silentLogger(),
  });
  t.after(() => src.stop());
  await src.start(rec.listener);
  assert.equal(rec.comm[0]?.[0], false);
  assert.match(rec.comm[0]![1], /cannot connect/);
  await assert.rejects(src.instantCommand('shutdown.return'), { code: 'SOURCE_LOST' });
});

test('readNutUps prints upsc-style lines, JSON, and exit codes for errors', async (t) => {
  const up = await upstream();
  t.after(() => up.server.stop());
  up.hub.publishVars({ ...VARS });
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
  assert.equal(await readNutUps(`rack@127.0.0.1:${up.port}`, io), 0);
  assert.equal(
    out.join(''),
    `${Object.keys(VARS)
      .sort()
      .map((k) => `${k}: ${VARS[k as keyof typeof VARS]}`)
      .join('\n')}\n`,
  );
  out.length = 0;
  assert.equal(await readNutUps(`rack@127.0.0.1:${up.port}`, io, { json: true }), 0);
  assert.deepEqual(JSON.parse(out.join('')).vars, VARS);
  assert.equal(await readNutUps(`nope@127.0.0.1:${up.port}`, io), 1);
  assert.equal(err.pop(), 'Error: Unknown UPS\n');
  assert.equal(await readNutUps('bad address', io), 2);
  assert.equal(await readNutUps('ups@127.0.0.1:1', io), 4);
});
