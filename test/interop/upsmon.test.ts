/**
 * Real upsmon against the master's NUT server: a secondary mapped to group `nas` runs its SHUTDOWNCMD
 * only after the sequencer's order reaches its channel, and its exit reaches the registry; a primary
 * seeing OB LB sets FSD (OK FSD-SET) and the master hears it through onFsd.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FleetRegistry } from '../../master/fleet/registry.js';
import { NutServer } from '../../master/nut/server/nut-server.js';
import { StateHub } from '../../master/state/state-hub.js';
import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import type { OrderMsg } from '../../shared/protocol/messages.js';
import { FakeSource } from '../unit/nut/helpers.js';
import { NutSandbox, nutMissing, waitFor } from './nut-sandbox.js';

const skip = nutMissing(['upsmon']);

async function startServer(hub: StateHub, registry: FleetRegistry, onFsd: (u: string, r: string) => void) {
  const server = new NutServer({
    config: {
      listen: '127.0.0.1:0',
      users: [
        { name: 'nasmon', password: 'naspass', upsmon: 'secondary', group: 'nas' },
        { name: 'boss', password: 'bosspass', upsmon: 'primary' },
      ],
    },
    hub,
    registry,
    source: new FakeSource(),
    clock: systemClock,
    logger: silentLogger(),
    onFsd,
  });
  const { port } = await server.start();
  return { server, port };
}

const order: OrderMsg = {
  v: 1,
  type: 'order',
  id: 'm1',
  ts: 0,
  orderId: 'order-nas',
  action: 'shutdown',
  reason: 'critical',
  deadline: 0,
  step: 1,
  drill: false,
};

test('a secondary upsmon in group nas goes down only when its step is ordered, and its exit confirms it', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const hub = new StateHub('ups', systemClock);
  hub.publishVars({ 'ups.status': 'OL', 'battery.charge': '100' });
  const registry = new FleetRegistry();
  const disconnectedAt: number[] = [];
  registry.subscribe({ disconnected: (m) => m.group === 'nas' && disconnectedAt.push(Date.now()) });
  const { server, port } = await startServer(hub, registry, () => {});
  const sb = new NutSandbox();
  t.after(async () => {
    await sb.stop();
    await server.stop();
  });
  const mon = sb.startUpsmon('nas', {
    monitor: `ups@127.0.0.1:${port}`,
    user: 'nasmon',
    password: 'naspass',
    role: 'secondary',
  });
  try {
    await waitFor(
      () => registry.inGroup('nas').some((m) => m.connected),
      'upsmon to log in as a member of group nas',
    );
    const member = registry.inGroup('nas').find((m) => m.connected)!;
    // a user with a group is one member known in advance; where it logged in from is its address
    assert.equal(member.id, 'nut:nasmon');
    assert.match(String(member.address), /^127\.0\.0\.1:\d+$/);
    // the outage goes on, other steps run: upsmon keeps polling and does not shut down on its own
    hub.publishVars({ 'ups.status': 'OB DISCHRG', 'battery.charge': '60' });
    await new Promise((r) => setTimeout(r, 3000));
    // OB LB for longer than its HOSTSYNC (3 s): a secondary that saw LB would give up on the primary
    // and shut down on its own; the server holds LB back from grouped clients until their step
    hub.publishVars({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '20' });
    await new Promise((r) => setTimeout(r, 5000));
    assert.deepEqual(sb.readMarker('nas'), [], 'upsmon must not shut down before its step');
    assert.equal(registry.get(member.id)?.connected, true);
    const orderedAt = Date.now();
    assert.ok(registry.sendOrder(member.id, order));
    await waitFor(() => sb.readMarker('nas').length > 0, 'upsmon SHUTDOWNCMD marker', 15_000);
    const [markedAt] = sb.readMarker('nas');
    assert.ok(markedAt! >= orderedAt - 5, `marker ${markedAt} before order ${orderedAt}`);
    await waitFor(
      () => registry.get(member.id)?.connected === false,
      'upsmon logout/exit to reach the registry',
      15_000,
    );
    assert.ok(disconnectedAt[0]! >= markedAt! - 5);
  } catch (err) {
    (err as Error).message += `\n${sb.logs()}`;
    throw err;
  } finally {
    await mon.stop();
  }
});

test('a primary upsmon that sees OB LB sets FSD and the master hears it', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const hub = new StateHub('ups', systemClock);
  hub.publishVars({ 'ups.status': 'OL', 'battery.charge': '100' });
  const registry = new FleetRegistry();
  const fsd: Array<{ user: string; reason: string }> = [];
  const { server, port } = await startServer(hub, registry, (user, reason) => fsd.push({ user, reason }));
  const sb = new NutSandbox();
  t.after(async () => {
    await sb.stop();
    await server.stop();
  });
  sb.startUpsmon('boss', {
    monitor: `ups@127.0.0.1:${port}`,
    user: 'boss',
    password: 'bosspass',
    role: 'primary',
  });
  try {
    await waitFor(
      () => registry.inGroup('@secondaries').some((m) => m.connected),
      'primary upsmon to log in',
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(fsd.length, 0);
    hub.publishVars({ 'ups.status': 'OB LB', 'battery.charge': '5' });
    await waitFor(() => fsd.length > 0, 'FSD from the primary upsmon', 15_000);
    assert.equal(fsd[0]!.user, 'boss');
    assert.equal(server.fsdLatched, true);
    // it then shuts its own host down (marker only) once no other client is logged in
    await waitFor(() => sb.readMarker('boss').length > 0, 'primary SHUTDOWNCMD marker', 20_000);
  } catch (err) {
    (err as Error).message += `\n${sb.logs()}`;
    throw err;
  }
});
