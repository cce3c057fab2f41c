/** The NUT server as a fleet transport: registry membership, orders as FSD, the FSD latch, WAIT, DATA-STALE, idle. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OrderMsg } from '../../../shared/protocol/messages.js';
import { startHarness, tick, until } from './helpers.js';

const order = (step: number): OrderMsg => ({
  v: 1,
  type: 'order',
  id: `o${step}`,
  ts: 0,
  orderId: `order-${step}`,
  action: 'shutdown',
  reason: 'test',
  deadline: 0,
  step,
  drill: false,
});

test('LOGIN registers the client with its group (or @secondaries); LOGOUT and a vanished client disconnect it', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  // a user with a group is a member known in advance, offline until it logs in
  const nasId = 'nut:nas';
  assert.deepEqual(
    h.registry.all().map((m) => [m.id, m.group, m.connected]),
    [
      ['nut:nas', 'nas', false],
      ['nut:web', 'web', false],
    ],
  );
  const nas = await h.client();
  await nas.login('nas', 'naspass');
  const mon = await h.client();
  await mon.login('mon', 'monpass');
  const monId = `nut:mon@127.0.0.1:${mon.localPort}`;
  assert.deepEqual(h.events, [`connected ${nasId} nas`, `connected ${monId} @secondaries`]);
  const info = h.registry.get(nasId)!;
  assert.equal(info.kind, 'nut');
  assert.equal(info.connected, true);
  assert.equal(info.address, `127.0.0.1:${nas.localPort}`);
  assert.equal(info.lastSeen, h.clock.now());

  h.clock.advance(5000);
  assert.equal(await nas.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL CHRG"');
  assert.equal(h.registry.get(nasId)!.lastSeen, h.clock.now());

  assert.equal(await nas.cmd('LOGOUT'), 'OK Goodbye');
  await nas.closedPromise;
  // left without an order: disconnected; known in advance, it stays a member (offline)
  assert.equal(h.registry.get(nasId)?.connected, false);
  // vanishes without LOGOUT: without a group it is forgotten (a reconnect is a new member, not a stale offline one)
  mon.destroy();
  await until(() => h.events.includes(`disconnected ${monId}`), 'registry disconnect of a vanished client');
  assert.equal(h.registry.get(monId), undefined);
  assert.deepEqual(h.events.slice(2), [`disconnected ${nasId}`, `disconnected ${monId}`]);
});

test('sendOrder makes FSD visible to that client only, in GET VAR and LIST VAR', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const nas = await h.client();
  await nas.login('nas', 'naspass');
  const web = await h.client();
  await web.login('web', 'webpass');
  const anon = await h.client();
  // asked before the order, on the same hub snapshot: the reply to the ordered client must still change
  assert.ok((await nas.list('LIST VAR ups')).includes('VAR ups ups.status "OL CHRG"'));
  assert.ok(h.registry.sendOrder('nut:nas', order(1)));
  assert.equal(await nas.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OL CHRG"');
  assert.ok((await nas.list('LIST VAR ups')).includes('VAR ups ups.status "FSD OL CHRG"'));
  assert.equal(await web.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL CHRG"');
  assert.ok((await web.list('LIST VAR ups')).includes('VAR ups ups.status "OL CHRG"'));
  assert.equal(await anon.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL CHRG"');
  // the hub's status changing keeps the FSD prefix for the ordered client
  h.hub.publishVars({ 'ups.status': 'OB DISCHRG', 'battery.charge': '80' });
  assert.equal(await nas.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OB DISCHRG"');
  assert.equal(await web.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB DISCHRG"');
  const nasList = await nas.list('LIST VAR ups');
  assert.ok(nasList.includes('VAR ups ups.status "FSD OB DISCHRG"'), nasList.join('\n'));
  assert.ok(nasList.includes('VAR ups battery.charge "80"'), nasList.join('\n'));
  assert.ok((await web.list('LIST VAR ups')).includes('VAR ups ups.status "OB DISCHRG"'));
  // the same user reconnecting from the same address after its order still sees FSD
  nas.destroy();
  const again = await h.client();
  await again.login('nas', 'naspass');
  assert.equal(await again.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OB DISCHRG"');
  h.server.resetFsd();
  const fresh = await h.client();
  await fresh.login('nas', 'naspass');
  assert.equal(await fresh.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB DISCHRG"');
});

test("a primary's FSD calls onFsd, answers OK FSD-SET and latches FSD for every client", async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const web = await h.client();
  await web.login('web', 'webpass');
  assert.equal(await web.cmd('FSD ups'), 'ERR ACCESS-DENIED');
  const p = await h.client();
  assert.equal(await p.cmd('FSD ups'), 'ERR USERNAME-REQUIRED');
  await p.login('primary', 'primarypass');
  assert.equal(await p.cmd('FSD other'), 'ERR UNKNOWN-UPS');
  assert.equal(h.fsdCalls.length, 0);
  assert.equal(await p.cmd('FSD ups'), 'OK FSD-SET');
  assert.equal(h.fsdCalls.length, 1);
  assert.equal(h.fsdCalls[0]!.user, 'primary');
  assert.match(h.fsdCalls[0]!.reason, /primary@127\.0\.0\.1/);
  assert.equal(h.server.fsdLatched, true);
  assert.equal(await web.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OL CHRG"');
  const anon = await h.client();
  assert.equal(await anon.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OL CHRG"');
  // a user with actions fsd (no upsmon role) may set it too
  const admin = await h.client();
  await admin.cmd('USERNAME admin');
  await admin.cmd('PASSWORD adminpass');
  assert.equal(await admin.cmd('FSD ups'), 'OK FSD-SET');
  assert.equal(h.fsdCalls.length, 2);
});

test('WAIT before the first data, DATA-STALE while the source is stale', async (t) => {
  const h = await startHarness({ feed: false });
  t.after(() => h.close());
  const c = await h.client();
  assert.equal(await c.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "WAIT"');
  assert.equal(await c.cmd('GET VAR ups battery.charge'), 'ERR VAR-NOT-SUPPORTED');
  assert.deepEqual(await c.list('LIST VAR ups'), [
    'BEGIN LIST VAR ups',
    'VAR ups ups.status "WAIT"',
    'END LIST VAR ups',
  ]);
  h.hub.publishVars({ 'ups.status': 'OL', 'battery.charge': '99' });
  assert.equal(await c.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL"');
  h.hub.publishComm(false, 'driver gone');
  assert.equal(await c.cmd('GET VAR ups ups.status'), 'ERR DATA-STALE');
  assert.deepEqual(await c.list('LIST VAR ups'), ['ERR DATA-STALE']);
  assert.equal(await c.cmd('GET UPSDESC ups'), 'UPSDESC ups "Rack \\"A\\" UPS"');
  h.hub.publishComm(true, 'back');
  assert.equal(await c.cmd('GET VAR ups battery.charge'), 'VAR ups battery.charge "99"');
});

test('idle clients are shed after idleTimeout (ManualClock); activity keeps them', async (t) => {
  const h = await startHarness({ config: { idleTimeout: '30s' } });
  t.after(() => h.close());
  const idle = await h.client();
  await idle.login('web', 'webpass');
  const idleId = 'nut:web';
  const busy = await h.client();
  await busy.login('mon', 'monpass');
  for (let i = 0; i < 4; i++) {
    h.clock.advance(10_000);
    assert.equal(await busy.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL CHRG"');
  }
  await idle.closedPromise;
  assert.equal(busy.closed, false);
  await until(() => h.events.includes(`disconnected ${idleId}`), 'idle disconnect');
  h.clock.advance(30_000);
  await busy.closedPromise;
});

test('200 clients at once, each logged in, polling and counted by NUMLOGINS', async (t) => {
  // 200 hosts, all on 127.0.0.1 here: one address may hold that many only when the operator says so
  const h = await startHarness({ config: { maxConnectionsPerAddress: 200 } });
  t.after(() => h.close());
  const clients = await Promise.all(Array.from({ length: 200 }, () => h.client()));
  await Promise.all(clients.map((c) => c.login('mon', 'monpass')));
  const replies = await Promise.all(clients.map((c) => c.cmd('GET VAR ups ups.status')));
  assert.ok(replies.every((r) => r === 'VAR ups ups.status "OL CHRG"'));
  assert.equal(await clients[0]!.cmd('GET NUMLOGINS ups'), 'NUMLOGINS ups 200');
  assert.equal(h.registry.all().filter((m) => m.connected).length, 200);
  for (const c of clients.slice(0, 100)) c.destroy();
  await until(() => h.registry.all().filter((m) => m.connected).length === 100, '100 disconnects');
  await tick();
  assert.equal(await clients[150]!.cmd('GET NUMLOGINS ups'), 'NUMLOGINS ups 100');
});

test('stop() drops clients and disconnects their members', async () => {
  const h = await startHarness();
  const c = await h.client();
  await c.login('nas', 'naspass');
  await h.server.stop();
  await c.closedPromise;
  await until(() => h.registry.all().every((m) => !m.connected), 'disconnect on stop');
});

test('LB is held back from grouped clients until their step; others see the real status', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  h.hub.publishVars({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '10' });
  const nas = await h.client();
  await nas.login('nas', 'naspass');
  const mon = await h.client();
  await mon.login('mon', 'monpass');
  const anon = await h.client();
  assert.equal(await nas.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB DISCHRG"');
  assert.equal(await mon.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB DISCHRG LB"');
  assert.equal(await anon.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB DISCHRG LB"');
  h.registry.sendOrder('nut:nas', order(2));
  assert.equal(await nas.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "FSD OB DISCHRG LB"');
});

test('hideLowBattery: false shows LB to everyone', async (t) => {
  const h = await startHarness({ config: { hideLowBattery: false } });
  t.after(() => h.close());
  h.hub.publishVars({ 'ups.status': 'OB LB' });
  const nas = await h.client();
  await nas.login('nas', 'naspass');
  assert.equal(await nas.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OB LB"');
});
