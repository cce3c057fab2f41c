/**
 * Slow links and skewed clocks on real processes over loopback (issue 10): an agent behind a relay that
 * delays everything by 5 s each way (a 10 s round trip), and agents whose wall clock is an hour ahead or
 * behind (libfaketime). Each must be welcomed, stay connected, be ordered at its step, go down (dry-run
 * marker) and be confirmed, in step order, with its round trip and skew reported in /status and /metrics.
 * Every ordering is read from the master's journal (its own clock), never from a skewed agent's marker.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import { type DelayRelay, startDelayRelay } from '../support/delay-relay.js';
import { LIBFAKETIME, skewedClock } from '../support/skewed-clock.js';
import { type Entry, marker, onBattery, seq, upsCommands } from './fault-fleet.js';

const root = mkdtempSync(join(tmpdir(), 'upsfleet-slow-skew-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface AgentStatus {
  id: string;
  connected: boolean;
  link?: { rttMs: number | null; clockSkewMs: number | null; livenessMs: number };
}

async function agentStatus(fleet: RunningFleet, id: string): Promise<AgentStatus | undefined> {
  return (await fleet.getJson<{ agents: AgentStatus[] }>('/status')).agents.find((a) => a.id === id);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function metrics(fleet: RunningFleet): Promise<string> {
  const res = await pinnedRequest(`${fleet.httpUrl}/metrics`, {
    fingerprints: fleet.fingerprint ? [fleet.fingerprint] : [],
  });
  assert.equal(res.status, 200);
  return res.text;
}

function metric(text: string, name: string, agent: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`agent="${agent}"`));
  return line ? Number(line.split(' ').at(-1)) : null;
}

/**
 * The run, from the master's journal: each agent ordered once at its step and never recorded offline,
 * confirmed down by its own dry-run going-down (not cut short), with its marker carrying that order id;
 * every step confirmed (not ended by a deadline) before the next one ordered anybody; killpower after
 * every agent was down and the master's own power-off last.
 */
function assertRunInOrder(fleet: RunningFleet, steps: string[][]): void {
  const j = fleet.journal();
  const runId = seq(j, 'sequence-start').find((e) => e.drill !== true)?.runId;
  assert.ok(runId, 'a run started');
  const at = (pred: (e: Entry) => boolean) => j.findIndex(pred);
  const ev = (id: string, event: string) =>
    j.filter((e) => e.kind === 'sequence' && e.runId === runId && e.memberId === id && e.event === event);
  let previousEnd = -1;
  steps.forEach((ids, i) => {
    const step = i + 1;
    for (const id of ids) {
      assert.equal(ev(id, 'order').length, 1, `${id} ordered once`);
      assert.equal(ev(id, 'offline').length, 0, `${id} never taken for offline at its step`);
      assert.equal(ev(id, 'deadline').length, 0, `${id} not cut short by the deadline`);
      const downs = ev(id, 'down');
      assert.equal(downs.length, 1, `${id} confirmed down once`);
      assert.equal(downs[0]!.detail, 'dry-run', `${id} confirmed by its own going-down`);
      const orderAt = j.indexOf(ev(id, 'order')[0]!);
      assert.ok(orderAt > previousEnd, `${id} (step ${step}) ordered after step ${step - 1} ended`);
      assert.equal(marker(fleet, id)?.orderId, ev(id, 'order')[0]!.orderId, `${id} acted on its order`);
    }
    const end = at(
      (e) => e.kind === 'sequence' && e.event === 'step-end' && e.runId === runId && e.step === step,
    );
    assert.ok(end >= 0, `step ${step} ended`);
    assert.equal(j[end]!.endedBy, 'confirmed', `step ${step} confirmed, not ended by its deadline`);
    previousEnd = end;
  });
  const kp = upsCommands(fleet).filter((c) => c.name === 'shutdown.return');
  assert.equal(kp.length, 1, 'killpower reached the UPS once');
  const lastDown = Math.max(...steps.flat().map((id) => j.indexOf(ev(id, 'down')[0]!)));
  assert.ok(at((e) => e.kind === 'master-poweroff') > lastDown, 'the master went last');
}

/** Log lines of one process (JSON objects) matching `pred`. */
function logLines(fleet: RunningFleet, file: string, pred: (l: Record<string, unknown>) => boolean) {
  const text = readFileSync(join(fleet.dir, 'logs', file), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter(pred);
}

const TIMELINE = 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n';
/** The simulated UPS keeps its own record of the instant commands it accepted (killpower). */
const MASTER_EXTRA = {
  ups: { name: 'ups', source: { type: 'simulated', timeline: 'outage.seq', persist: true } },
};

describe('slow links and skewed clocks (real processes on loopback)', () => {
  let fleet: RunningFleet | undefined;
  let relay: DelayRelay | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await relay?.stop();
    fleet = undefined;
    relay = undefined;
  });

  it('an agent behind 5 s each way (10 s RTT) stays connected, is ordered at its step, goes down and is confirmed in order', async () => {
    // the relay's target (the master) is known only once the launcher started it: asked per connection
    let master = { host: '127.0.0.1', port: 0 };
    const r = await startDelayRelay({ to: () => master, delayMs: 5_000 });
    relay = r;
    fleet = await launchFleet({
      dir: mkdtempSync(join(root, 'slow-')),
      groups: [
        { name: 'app', agents: ['slow1'] },
        { name: 'db', agents: ['db1'] },
      ],
      sequence: [
        { groups: ['app'], deadline: '60s', settle: '0s' },
        { groups: ['db'], deadline: '30s', settle: '0s' },
      ],
      timeline: TIMELINE,
      debounce: '1s',
      masterExtra: MASTER_EXTRA,
      agentMasterUrls: (id, url) => {
        const u = new URL(url);
        master = { host: u.hostname, port: Number(u.port) };
        return id === 'slow1' ? [`${u.protocol}//127.0.0.1:${r.port}${u.pathname}`] : [url];
      },
    });
    const f = fleet;
    // TLS and the upgrade over the relay take three round trips (30 s), the hello and welcome one more
    await waitForAgents(f, 90_000);
    const measured = await until(
      "slow1's round trip measured",
      async () => {
        const link = (await agentStatus(f, 'slow1'))?.link;
        return link?.rttMs !== null && link?.rttMs !== undefined && link.rttMs >= 9_000 ? link : undefined;
      },
      30_000,
    );
    assert.ok(measured.rttMs! < 15_000, `slow1's RTT ${measured.rttMs} ms (10 s expected)`);
    assert.ok(
      measured.livenessMs > 2 * measured.rttMs!,
      `its silence allowance grew (${measured.livenessMs} ms)`,
    );
    // several ping intervals (2 s) and round trips pass on the slow link: it is not taken for a dead one
    await new Promise((r) => setTimeout(r, 25_000));
    assert.equal((await agentStatus(f, 'slow1'))?.connected, true, 'slow1 still connected 25 s later');
    const rttMetric = metric(await metrics(f), 'upsfleet_agent_rtt_seconds', 'slow1');
    assert.ok(rttMetric !== null && rttMetric >= 9, `upsfleet_agent_rtt_seconds{agent="slow1"} ${rttMetric}`);

    await onBattery(f, true);
    await f.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 120_000);
    assertRunInOrder(f, [['slow1'], ['db1']]);
    assert.equal((await agentStatus(f, 'slow1'))?.link?.rttMs !== null, true);
    // one connection all along: never dropped for missed pings, never reconnected
    const connects = logLines(f, 'master.log', (l) => l.msg === 'agent connected' && l.agentId === 'slow1');
    assert.equal(connects.length, 1, 'slow1 connected once and stayed');
    const drops = logLines(
      f,
      'master.log',
      (l) => l.agentId === 'slow1' && /terminating/.test(String(l.msg)),
    );
    assert.deepEqual(drops, [], 'slow1 never dropped for silence');
    assert.ok(r.connections >= 1);
  });

  it('agents an hour ahead and an hour behind are welcomed, ordered and confirmed in order, their skew reported', {
    skip: LIBFAKETIME ? false : 'libfaketime is not installed (apt-get install faketime)',
  }, async () => {
    fleet = await launchFleet({
      dir: mkdtempSync(join(root, 'skew-')),
      groups: [
        { name: 'app', agents: ['app1', 'ahead1'] },
        { name: 'db', agents: ['behind1'] },
      ],
      sequence: [
        { groups: ['app'], deadline: '40s', settle: '0s' },
        { groups: ['db'], deadline: '40s', settle: '0s' },
      ],
      timeline: TIMELINE,
      debounce: '1s',
      masterExtra: MASTER_EXTRA,
      wrap: (who) => (who === 'ahead1' ? skewedClock('+1h') : who === 'behind1' ? skewedClock('-1h') : []),
    });
    const f = fleet;
    await waitForAgents(f, 60_000);
    for (const [id, skewMs] of [
      ['ahead1', 3_600_000],
      ['behind1', -3_600_000],
      ['app1', 0],
    ] as const) {
      const link = await until(
        `${id}'s skew measured`,
        async () => {
          const l = (await agentStatus(f, id))?.link;
          return l?.clockSkewMs !== null && l?.clockSkewMs !== undefined ? l : undefined;
        },
        20_000,
      );
      assert.ok(
        Math.abs(link.clockSkewMs! - skewMs) < 30_000,
        `${id}'s skew ${link.clockSkewMs} ms (${skewMs})`,
      );
      const m = metric(await metrics(f), 'upsfleet_agent_clock_skew_seconds', id);
      assert.ok(m !== null && Math.abs(m - skewMs / 1000) < 30, `${id}'s skew metric ${m} s`);
    }

    await onBattery(f, true);
    await f.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 90_000);
    assertRunInOrder(f, [['app1', 'ahead1'], ['behind1']]);
    // reported once per connection, as a warning; the agent on time is not mentioned
    for (const id of ['ahead1', 'behind1']) {
      const warns = logLines(f, 'master.log', (l) => l.code === 'CLOCK_SKEW' && l.agentId === id);
      assert.equal(warns.length, 1, `one CLOCK_SKEW warning for ${id}`);
    }
    assert.equal(logLines(f, 'master.log', (l) => l.code === 'CLOCK_SKEW' && l.agentId === 'app1').length, 0);
    assert.equal(
      logLines(f, 'master.log', (l) => l.code === 'PROTO_STALE' || l.code === 'PROTO_REPLAY').length,
      0,
      'nothing refused',
    );
  });
});
