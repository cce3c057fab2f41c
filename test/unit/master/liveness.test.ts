/**
 * Liveness that tolerates slow links, and skew that is only measured: the pure rules of
 * shared/protocol/link-timing.ts, then the agent server on a manual clock with a real socket whose
 * "agent" answers every ping 10 s later (5 s each way) with a clock an hour ahead. It must stay connected,
 * with its RTT and skew reported; an agent that falls silent is still dropped, after an allowance that
 * grew with its RTT (and a fast one after three ping intervals, as before).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { AgentServer } from '../../../master/servers/agent-server.js';
import { HttpServer } from '../../../master/servers/http-server.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { hashToken } from '../../../shared/auth/token.js';
import { ManualClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import { decodeMasterMessage, encode, envelop } from '../../../shared/protocol/codec.js';
import {
  livenessAllowanceMs,
  RttEstimator,
  SkewEstimator,
  skewSampleMs,
} from '../../../shared/protocol/link-timing.js';
import type { AgentMsg, MasterMsg } from '../../../shared/protocol/messages.js';

describe('link timing (pure)', () => {
  it('smooths the RTT like TCP and gives a high estimate at least as large as the last sample', () => {
    const r = new RttEstimator();
    assert.equal(r.smoothedMs, null);
    assert.equal(r.highMs, null);
    r.sample(10_000);
    assert.equal(r.smoothedMs, 10_000);
    assert.equal(r.highMs, 10_000 + 4 * 5_000);
    for (let i = 0; i < 50; i++) r.sample(10_000);
    assert.equal(r.smoothedMs, 10_000);
    assert.ok(r.highMs! >= 10_000 && r.highMs! < 10_100, `${r.highMs}`);
    r.sample(20_000); // a sudden slow-down: the high estimate follows at once
    assert.ok(r.highMs! >= 20_000);
  });

  it('allows (missedPongs + 1) intervals plus twice the high RTT, within bounds', () => {
    const s = { pingIntervalMs: 5_000, missedPongs: 2, maxSilenceMs: 120_000 };
    assert.equal(livenessAllowanceMs(s, null), 15_000, 'before any measure: the old rule');
    assert.equal(livenessAllowanceMs(s, 2), 15_004, 'a LAN barely changes it');
    assert.equal(livenessAllowanceMs(s, 10_000), 35_000, 'a 10 s round trip');
    assert.equal(livenessAllowanceMs(s, 500_000), 120_000, 'never past maxSilence');
    assert.equal(
      livenessAllowanceMs({ ...s, maxSilenceMs: 1_000 }, 10_000),
      15_000,
      'never below the plain interval rule',
    );
  });

  it('takes the skew of the fastest exchange, corrected by half its round trip', () => {
    assert.equal(skewSampleMs(3_600_000 + 5_000, 0, 10_000), 3_600_000);
    const k = new SkewEstimator();
    assert.equal(k.skewMs, null);
    k.sample(1000 + 3_600_000 + 9_000, 1000, 1000 + 10_000); // asymmetric slow one: off by 4 s
    k.sample(50_000 + 3_600_000 + 100, 50_000, 50_200); // fast one: exact
    assert.equal(k.skewMs, 3_600_000);
  });
});

const TOKEN = 'token-slow1-xxxxxxx';
const PING_MS = 2_000;

describe('agent server liveness on a manual clock, over a real socket', () => {
  const clock = new ManualClock();
  const hub = new StateHub('ups', clock);
  const registry = new FleetRegistry();
  const policy = { critical: false, reason: null, onBatterySince: null, communicating: true };
  const server = new AgentServer({
    masterId: 'm1',
    agents: [
      { id: 'slow1', group: 'app', tokenHash: hashToken(TOKEN) },
      { id: 'fast1', group: 'app', tokenHash: hashToken('token-fast1-xxxxxxx') },
    ],
    registry,
    clock,
    logger: silentLogger(),
    pingIntervalMs: PING_MS,
    snapshot: () => ({ hub: hub.snapshot(), policy }),
    stepOf: () => 1,
    steps: 1,
    feedback: { ack: () => {}, progress: () => {}, goingDown: () => {}, drillReport: () => {} },
  });
  const http = new HttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    agentServer: server,
    admins: [],
    status: () => ({}),
    admin: { simulate: async () => {}, fsd: async () => {}, drill: async () => undefined },
  });
  let url = '';
  before(async () => {
    hub.publishVars({ 'ups.status': 'OL' });
    url = `ws://127.0.0.1:${(await http.start()).port}/ws`;
  });
  after(async () => {
    await server.stop();
    await http.stop();
  });

  /**
   * An agent at the end of a link with `oneWayMs` each way whose clock is `skewMs` off: it answers a ping
   * (sent at ping.ts on the master's clock) at ping.ts + oneWayMs on its own clock, and the pong reaches
   * the master at ping.ts + 2 × oneWayMs. `answering` false: it falls silent.
   */
  class SlowAgent {
    readonly ws: WebSocket;
    readonly pings: Array<{ ts: number }> = [];
    closed = false;
    closeCode = 0;
    answering = true;
    welcomed = false;
    constructor(
      readonly id: string,
      readonly token: string,
      readonly oneWayMs: number,
      readonly skewMs: number,
    ) {
      this.ws = new WebSocket(url);
      this.ws.on('message', (d) => {
        const r = decodeMasterMessage(String(d));
        if (!r.ok) return;
        const msg: MasterMsg = r.msg;
        if (msg.type === 'welcome') this.welcomed = true;
        if (msg.type === 'ping') this.pings.push({ ts: msg.ts });
      });
      this.ws.on('close', (code) => {
        this.closed = true;
        this.closeCode = code;
      });
    }
    opened(): Promise<void> {
      return new Promise((resolve) => this.ws.once('open', () => resolve()));
    }
    send(body: Record<string, unknown>, ts: number): void {
      this.ws.send(encode(envelop(body as never, ts) as AgentMsg));
    }
    /** Called after each clock step: the pongs whose time has come leave now. */
    tick(): void {
      if (!this.answering) return;
      while (this.pings.length > 0 && this.pings[0]!.ts + 2 * this.oneWayMs <= clock.now()) {
        const ping = this.pings.shift()!;
        this.send({ type: 'pong' }, ping.ts + this.oneWayMs + this.skewMs);
      }
    }
  }

  /** Moves the manual clock in small steps, letting the real sockets carry what each step sent. */
  async function run(ms: number, agents: SlowAgent[], stepMs = 250): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      clock.advance(stepMs);
      await new Promise((r) => setTimeout(r, 2));
      for (const a of agents) a.tick();
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async function connect(a: SlowAgent): Promise<void> {
    await a.opened();
    // the upgrade answer takes one way to reach the agent, its hello one way back
    const upgradedAt = clock.now();
    await run(2 * a.oneWayMs, []);
    a.send(
      {
        type: 'hello',
        agentId: a.id,
        group: 'app',
        version: 't',
        capabilities: [],
        token: a.token,
        dryRun: true,
      },
      upgradedAt + a.oneWayMs + a.skewMs,
    );
    const until = Date.now() + 3000;
    while (!a.welcomed && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.ok(a.welcomed, `${a.id} welcomed`);
  }

  it('keeps an agent 5 s away each way (10 s RTT, 2 s pings) connected, and reports its RTT and skew', async () => {
    const slow = new SlowAgent('slow1', TOKEN, 5_000, 3_600_000);
    await connect(slow);
    await run(120_000, [slow]);
    assert.equal(
      slow.closed,
      false,
      `still connected after 2 min of 10 s round trips (close ${slow.closeCode})`,
    );
    assert.equal(registry.get('slow1')?.connected, true);
    const link = server.link('slow1')!;
    assert.ok(Math.abs(link.rttMs! - 10_000) <= 500, `rtt ${link.rttMs}`);
    assert.ok(Math.abs(link.clockSkewMs! - 3_600_000) <= 500, `skew ${link.clockSkewMs}`);
    assert.ok(link.livenessMs >= 3 * PING_MS + 20_000, `allowance ${link.livenessMs} grew with the RTT`);

    // then it falls silent: dropped once the allowance has passed, not before
    slow.answering = false;
    const silentFrom = clock.now();
    await run(link.livenessMs - 12_000, [slow]);
    assert.equal(slow.closed, false, 'not dropped before its allowance');
    await run(12_000 + 2 * PING_MS, [slow]);
    for (let i = 0; i < 100 && !slow.closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(slow.closed, true, `dropped ${clock.now() - silentFrom} ms after it fell silent`);
    assert.equal(registry.get('slow1')?.connected, false);
  });

  it('still drops a fast agent that falls silent after three ping intervals', async () => {
    const fast = new SlowAgent('fast1', 'token-fast1-xxxxxxx', 0, 0);
    await connect(fast);
    await run(10 * PING_MS, [fast]);
    assert.equal(fast.closed, false);
    assert.ok(server.link('fast1')!.rttMs! <= 250);
    fast.answering = false;
    await run(5 * PING_MS, [fast]);
    for (let i = 0; i < 100 && !fast.closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fast.closed, true, 'dropped within five intervals of silence');
  });
});
