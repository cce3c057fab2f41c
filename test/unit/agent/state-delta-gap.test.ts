/**
 * The agent's side of state deltas, against a test master on 127.0.0.1: it announces `state-delta`, builds
 * its state from the full state and the deltas (its notify command sees the rebuilt variables), and a delta
 * that does not follow the revision it holds is dropped, the last good state kept and a full state asked
 * for (`resync`, once per RESYNC_RETRY_MS however many deltas are dropped meanwhile) until the answer comes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../../agent/agent.js';
import { ManualClock } from '../../../shared/clock.js';
import type { AgentSettings } from '../../../shared/config/agent-settings.js';
import { silentLogger } from '../../../shared/logger.js';
import type { HelloMsg, PolicyViewT, ResyncMsg } from '../../../shared/protocol/messages.js';
import { FakeMaster } from './fake-master.js';

const policy: PolicyViewT = { critical: false, reason: null, onBatterySince: null, communicating: true };

test('deltas rebuild the state; a gap is dropped, the last good state kept, and a full state asked for', async (t) => {
  const master = await FakeMaster.start();
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-delta-'));
  const envFile = join(dir, 'notify.env');
  const settings: AgentSettings = {
    file: join(dir, 'agent.yaml'),
    id: 'web-1',
    group: 'app',
    token: 'agent-token-0123456789',
    stateDir: join(dir, 'state'),
    masterUrls: [master.url],
    masterAuto: false,
    masterTls: { fingerprints: [] },
    deadtimeMs: 15_000,
    reconnect: { initialMs: 10, maxMs: 40 },
    shutdown: { command: ['true'], dryRun: true, marker: join(dir, 'marker') },
    hooks: [],
    notify: {
      timeoutMs: 5_000,
      command: [
        'sh',
        '-c',
        `env | grep '^UPSFLEET_' | sort > ${envFile}.tmp && mv ${envFile}.tmp ${envFile}`,
      ],
    },
    log: { level: 'silent' },
  };
  const clock = new ManualClock(Date.now());
  const agent = new Agent(settings, { logger: silentLogger(), random: () => 0, hostname: 'web-1', clock });
  t.after(async () => {
    await agent.stop();
    await master.close();
    rmSync(dir, { recursive: true, force: true });
  });
  agent.start();
  await master.untilConnections(1);
  const hello = master.messages(0)[0] as HelloMsg;
  assert.ok(hello.capabilities.includes('state-delta'), 'the agent announces state-delta');

  master.send({
    type: 'welcome',
    masterId: 'm',
    ups: ['su700'],
    group: 'app',
    step: 1,
    steps: 1,
    pingIntervalMs: 60_000,
  });
  const vars = { 'battery.charge': '100', 'battery.runtime': '1800', 'ups.alarm': 'x', 'ups.status': 'OL' };
  master.send({ type: 'state', ups: 'su700', vars, stale: false, policy, rev: 7 });
  master.send({ type: 'state-delta', ups: 'su700', rev: 8, base: 7, set: { 'battery.charge': '91' } });
  master.send({
    type: 'state-delta',
    ups: 'su700',
    rev: 9,
    base: 8,
    set: { 'ups.status': 'OB DISCHRG' },
    unset: ['ups.alarm'],
    policy: { ...policy, onBatterySince: 1_700_000_000_000 },
  });
  const expected = {
    ups: 'su700',
    vars: { 'battery.charge': '91', 'battery.runtime': '1800', 'ups.status': 'OB DISCHRG' },
    stale: false,
    policy: { ...policy, onBatterySince: 1_700_000_000_000 },
    rev: 9,
  };
  const picture = () => {
    const s = agent.state.get('su700');
    return s && { ups: s.ups, vars: s.vars, stale: s.stale, policy: s.policy, rev: s.rev };
  };
  await master.until(() => picture()?.rev === 9, 'revision 9 applied');
  assert.deepEqual(picture(), expected);
  // the notify command reads the rebuilt state
  master.send({ type: 'event', ups: 'su700', event: 'ONBATT', message: 'on battery' });
  await master.until(() => existsSync(envFile), 'the notify command ran', 10_000);
  const env = readFileSync(envFile, 'utf8');
  assert.match(env, /^UPSFLEET_CHARGE=91$/m);
  assert.match(env, /^UPSFLEET_STATUS=OB DISCHRG$/m);

  // revision 10 is lost: 11 on top of it is dropped, and a full state asked for, once
  master.send({ type: 'state-delta', ups: 'su700', rev: 11, base: 10, set: { 'battery.charge': '80' } });
  master.send({ type: 'state-delta', ups: 'su700', rev: 12, base: 11, set: { 'battery.charge': '79' } });
  const resyncs = () => master.messages(0).filter((m): m is ResyncMsg => m.type === 'resync');
  await master.until(() => resyncs().length === 1, 'a resync');
  assert.deepEqual(
    resyncs().map((r) => ({ ups: r.ups, have: r.have })),
    [{ ups: 'su700', have: 9 }],
  );
  master.send({ type: 'ping' }); // a round trip: both deltas were read
  await master.until(() => master.messages(0).some((m) => m.type === 'pong'), 'pong');
  assert.equal(resyncs().length, 1, 'one resync for the deltas already on their way');
  assert.deepEqual(picture(), expected, 'the last good state is kept');
  assert.equal(agent.connected, true, 'the link stays up');
  // no answer for RESYNC_RETRY_MS: the next delta that does not apply asks again
  clock.advance(5_000);
  master.send({ type: 'state-delta', ups: 'su700', rev: 13, base: 12, set: { 'battery.charge': '78' } });
  await master.until(() => resyncs().length === 2, 'a second resync');

  // the answer: a full state, and deltas apply on top of it again
  const full = { 'battery.charge': '78', 'battery.runtime': '700', 'ups.status': 'OB DISCHRG' };
  master.send({ type: 'state', ups: 'su700', vars: full, stale: false, policy, rev: 13 });
  master.send({ type: 'state-delta', ups: 'su700', rev: 14, base: 13, stale: true });
  await master.until(() => picture()?.rev === 14, 'revision 14 applied');
  assert.deepEqual(picture(), { ups: 'su700', vars: full, stale: true, policy, rev: 14 });
  assert.equal(resyncs().length, 2);
});
