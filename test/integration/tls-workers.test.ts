/**
 * Agent connections terminated in a TLS worker process (`master.tlsWorkers`), with real processes on
 * 127.0.0.1: the demo's whole outage through one worker (the agents' markers prove the order as without
 * it), the worker killed while agents are going down (their links are lost by the master: nobody is
 * confirmed down by it; an agent's own close through the respawned worker still confirms), and the
 * limits that hold on every connection the worker takes (failed authentication, an over-long frame, a
 * stalled handshake, the per-address slots the worker gives back), there with the one-file bundle as deployed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { demoFleet } from '../../cli/demo/demo-fleet.js';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';
import { addToken, revokeToken } from '../../master/auth/token-store.js';
import { AGENT_ALPN } from '../../shared/protocol/agent-alpn.js';
import { CloseCodes } from '../../shared/protocol/messages.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import { captureHello } from '../support/client-hello.js';
import { assertStepsInOrder, demoMarker } from '../support/demo-order.js';
import { pollFor } from '../support/poll.js';
import { TestClient } from '../support/ws-client.js';

interface WorkerView {
  pid: number | null;
  ready: boolean;
  connections: number;
  links: number;
  restarts: number;
}

interface Status {
  agents: Array<{ id: string; connected: boolean }>;
  main: { refused: Record<string, number>; tlsWorkers: WorkerView[] };
  rejectedMessages: Record<string, number>;
}

const AGENT_TLS = [AGENT_ALPN, 'http/1.1'];

/** How a client's connection closed, or null when it was still open after `ms` (a test must not hang on it). */
function closedWithin(c: TestClient, ms: number): Promise<{ code: number; reason: string } | null> {
  return Promise.race([c.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))]);
}

/** Whether a process still runs: a zombie (exited, its orphan not reaped yet by init) does not. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('a whole outage through a TLS worker process', () => {
  let fleet: RunningFleet;
  let dir: string;
  let connectedThrough: WorkerView[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-tlsw-'));
    fleet = await launchFleet({ ...demoFleet(dir), fixedPort: true, masterSection: { tlsWorkers: 1 } });
    await waitForAgents(fleet, 30_000);
    connectedThrough = (await fleet.getJson<Status>('/status')).main.tlsWorkers;
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 120_000);
  });

  after(async () => {
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('carries every agent through the worker, another process than the master', () => {
    assert.equal(connectedThrough.length, 1);
    const [w] = connectedThrough;
    assert.ok(w!.ready && w!.pid !== null && w!.pid !== fleet.master.pid, JSON.stringify(w));
    assert.equal(w!.links, 6, 'each of the 6 agents is a link in the worker');
  });

  it('confirms every agent of step n before any agent of step n+1 gets its order, killpower last', () => {
    assertStepsInOrder(fleet);
    const killpower = fleet.journal().find((e) => e.kind === 'killpower');
    assert.ok(killpower, 'no killpower');
    const lastDown = Math.max(...fleet.agents.map((a) => demoMarker(fleet, a.id).ts));
    assert.ok((killpower.ts as number) > lastDown, 'killpower before an agent was down');
  });

  it('serves the CLI, browsers and Prometheus (no agent ALPN) in the master itself', async () => {
    const status = await fleet.getJson<Status>('/status');
    assert.equal(status.agents.filter((a) => a.connected).length, 6);
    const metrics = await pinnedRequest(`${fleet.httpUrl}/metrics`, { fingerprints: [fleet.fingerprint!] });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^upsfleet_tls_worker_up\{worker="0"\} 1$/m);
    assert.match(metrics.text, /^upsfleet_tls_worker_links\{worker="0"\} 6$/m);
    assert.match(metrics.text, /^upsfleet_tls_worker_restarts_total\{worker="0"\} 0$/m);
  });

  it('leaves no worker behind when the master is killed; the agents come back through the new one', async () => {
    const [old] = (await fleet.getJson<Status>('/status')).main.tlsWorkers;
    await fleet.restartMaster();
    await pollFor('the worker of the killed master gone', () => (alive(old!.pid!) ? undefined : true), 5_000);
    const [now] = await pollFor(
      'every agent back through the new worker',
      async () => {
        const workers = (await fleet.getJson<Status>('/status')).main.tlsWorkers;
        return workers[0]?.links === 6 ? workers : undefined;
      },
      60_000,
    );
    assert.notEqual(now!.pid, old!.pid);
  });
});

/** The outage goes critical 4 s after start: raw protocol clients play the two agents of the one step. */
const CRITICAL_SOON = `ups.status: OL CHRG
battery.charge: 100
battery.runtime: 1800
TIMER 4
ups.status: OB DISCHRG LB
battery.charge: 10
battery.runtime: 60
TIMER 6000
`;

describe('a TLS worker killed while agents are going down', () => {
  let fleet: RunningFleet;
  let dir: string;
  const clients: TestClient[] = [];

  const sequenceOf = (id: string) =>
    fleet
      .journal()
      .filter((e) => e.kind === 'sequence' && e.memberId === id)
      .map((e) => ({ event: e.event as string, detail: e.detail as string | undefined }));

  async function agent(id: string): Promise<TestClient> {
    const c = new TestClient(fleet.wsUrl, { anyCert: true, alpn: AGENT_TLS });
    clients.push(c);
    await c.opened();
    await c.hello({ agentId: id, token: fleet.agentToken(id), dryRun: false });
    return c;
  }

  const workers = async () => (await fleet.getJson<Status>('/status')).main.tlsWorkers;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-tlsw-kill-'));
    fleet = await launchFleet({
      dir,
      groups: [{ name: 'raw', agents: ['x1', 'x2'], external: true }],
      sequence: [{ groups: ['raw'], deadline: '120s' }],
      timeline: CRITICAL_SOON,
      debounce: '500ms',
      masterSection: { tlsWorkers: 1 },
    });
  });

  /** A worker this test stopped (SIGSTOP): killed here if the master did not, so nothing is left behind. */
  let frozenPid: number | null = null;

  after(async () => {
    for (const c of clients) c.ws.terminate();
    if (frozenPid !== null) {
      try {
        process.kill(frozenPid, 'SIGKILL');
      } catch {
        // gone already: the master killed it
      }
    }
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loses the links without confirming anyone down; an agent closing by itself still confirms', async () => {
    const x1 = await agent('x1');
    const x2 = await agent('x2');
    const [w] = await workers();
    assert.equal(w!.links, 2);
    // both accept their order and start going down; their connections stay open (the power-off is under way)
    for (const c of [x1, x2]) {
      const [order] = await c.waitFor('order');
      c.send({ type: 'ack', orderId: order!.orderId });
      c.send({ type: 'going-down', orderId: order!.orderId, dryRun: false, hookFailures: 0 });
    }
    await fleet.waitForJournal(
      (j) => j.filter((e) => e.kind === 'sequence' && e.event === 'going-down').length === 2,
      10_000,
    );

    process.kill(w!.pid!, 'SIGKILL');
    for (const c of [x1, x2]) assert.ok(await closedWithin(c, 10_000), 'a link outlived its worker');
    await fleet.waitForJournal(
      (j) => j.filter((e) => e.kind === 'sequence' && e.event === 'disconnected').length === 2,
      10_000,
    );
    for (const id of ['x1', 'x2']) {
      const events = sequenceOf(id);
      assert.ok(
        !events.some((e) => e.event === 'down'),
        `${id} confirmed down by the worker's death: ${JSON.stringify(events)}`,
      );
      const lost = events.find((e) => e.event === 'disconnected');
      assert.match(lost!.detail ?? '', /closed by the master: TLS worker \d+ exited/);
    }

    // the worker is back; x1 reconnects through it and then closes by itself (its power went): confirmed
    await pollFor(
      'the worker started again',
      async () => {
        const [again] = await workers();
        return again!.ready && again!.restarts === 1 && again!.pid !== w!.pid ? again : undefined;
      },
      20_000,
    );
    const again = await agent('x1');
    assert.equal((await workers())[0]!.links, 1, 'the reconnection went through the new worker');
    again.ws.close();
    await fleet.waitForJournal(
      (j) => j.some((e) => e.kind === 'sequence' && e.memberId === 'x1' && e.event === 'down'),
      10_000,
    );
    assert.ok(!sequenceOf('x2').some((e) => e.event === 'down'), 'x2 never closed: not down');
  });

  it('kills a worker that stops answering (SIGSTOP); its agents come back, nobody confirmed down', async () => {
    const x2 = await agent('x2');
    const [w] = await workers();
    assert.equal(w!.links, 1);
    frozenPid = w!.pid;
    process.kill(w!.pid!, 'SIGSTOP');
    // the master stops routing to it within seconds and kills it after 10 s of silence
    const restarted = await pollFor(
      'the frozen worker replaced',
      async () => {
        const [now] = await workers();
        return now!.ready && now!.restarts === 2 && now!.pid !== w!.pid ? now : undefined;
      },
      30_000,
    );
    assert.notEqual(restarted.pid, frozenPid);
    assert.ok(await closedWithin(x2, 10_000), "x2's link outlived its frozen worker");
    assert.ok(!alive(frozenPid!), 'the frozen worker is still there');
    frozenPid = null;
    await agent('x2');
    assert.equal((await workers())[0]!.links, 1, 'x2 came back through the new worker');
    // its link ended as the master's doing: its missed pings (the frozen worker passed none) or the worker's end
    const events = sequenceOf('x2');
    assert.ok(!events.some((e) => e.event === 'down'), JSON.stringify(events));
    const lost = events.filter((e) => e.event === 'disconnected');
    assert.ok(lost.length >= 2, JSON.stringify(events));
    assert.match(lost.at(-1)!.detail ?? '', /closed by the master: (missed pings|TLS worker \d+ exited)/);
  });
});

describe('limits on the connections a TLS worker takes', () => {
  let fleet: RunningFleet;
  let dir: string;
  const status = () => fleet.getJson<Status>('/status');
  const port = () => Number(new URL(fleet.wsUrl).port);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-tlsw-limits-'));
    fleet = await launchFleet({
      dir,
      groups: [{ name: 'raw', agents: ['y1'], external: true }],
      sequence: [{ groups: ['raw'] }],
      timeline: 'ups.status: OL CHRG\nbattery.charge: 100\nTIMER 6000\n',
      // the one-file CLI the package and the roles deploy: it forks itself as the worker
      masterBundle: fileURLToPath(new URL('../../dist/upsfleet.cjs', import.meta.url)),
      masterSection: {
        tlsWorkers: 1,
        limits: { handshakeTimeout: '2s', connectionsPerAddress: 3, maxMessageBytes: 1024 },
      },
    });
  });

  after(async () => {
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('closes a connection at its failed authentication, and one sending an over-long frame', async () => {
    const bad = new TestClient(fleet.wsUrl, { anyCert: true, alpn: AGENT_TLS });
    await bad.opened();
    // the worker tells the master of the link as it answers the upgrade: the two race
    await pollFor(
      'the link in the worker',
      async () => ((await status()).main.tlsWorkers[0]!.links === 1 ? true : undefined),
      5_000,
    );
    bad.send({
      type: 'hello',
      agentId: 'y1',
      group: 'raw',
      version: 'test',
      capabilities: [],
      token: 'not-the-token',
      dryRun: true,
    });
    assert.equal((await closedWithin(bad, 10_000))?.code, CloseCodes.AUTH_FAILED);

    const big = new TestClient(fleet.wsUrl, { anyCert: true, alpn: AGENT_TLS });
    await big.opened();
    big.sendRaw('x'.repeat(64 * 1024));
    const closed = await closedWithin(big, 10_000);
    assert.equal(closed?.code, 1009, 'ws cut the frame over its limit');
    const s = await status();
    assert.ok((s.rejectedMessages.PROTO_TOO_LARGE ?? 0) >= 1, JSON.stringify(s.rejectedMessages));
    assert.ok((s.rejectedMessages.AUTH_FAILED ?? 0) >= 1, JSON.stringify(s.rejectedMessages));
  });

  it('closes a link through the worker as soon as its token is revoked', async () => {
    const tokensFile = join(dir, 'master', 'state', 'tokens.json');
    const token = addToken(tokensFile, 'y2', 'agent', 'raw');
    // the master re-reads the tokens file every 2 s: say hello once it knows y2 (each miss is one failed try)
    const c = await pollFor(
      'y2 welcomed',
      async () => {
        const attempt = new TestClient(fleet.wsUrl, { anyCert: true, alpn: AGENT_TLS });
        await attempt.opened();
        // refused (closed) or not answered in 3 s: not yet; a miss is closed here either way
        const welcomed = await Promise.race([
          attempt.hello({ agentId: 'y2', token }).then(
            () => true,
            () => false,
          ),
          new Promise<boolean>((r) => setTimeout(() => r(false), 3_000)),
        ]);
        if (welcomed) return attempt;
        attempt.ws.terminate();
        return undefined;
      },
      10_000,
      { intervalMs: 2_500 },
    );
    assert.equal((await status()).main.tlsWorkers[0]!.links, 1);
    revokeToken(tokensFile, 'y2');
    const closed = await closedWithin(c, 10_000);
    assert.equal(closed?.code, CloseCodes.AUTH_FAILED, 'not closed within 10 s of the revocation');
    await pollFor(
      'the link and its connection gone from the worker',
      async () => {
        const [w] = (await status()).main.tlsWorkers;
        return w!.links === 0 && w!.connections === 0 ? true : undefined;
      },
      5_000,
    );
  });

  it('ends handshakes that stall after the ClientHello and gives their address slots back', async () => {
    const hello = await captureHello(AGENT_TLS);
    // three connections from this address (its limit) send an agent's ClientHello and then nothing
    const held = [0, 1, 2].map(() => openRaw(hello));
    await Promise.all(held.map((h) => h.answered));
    // a fourth is refused at once by the per-address limit: the worker still holds the three
    const fourth = openRaw(Buffer.alloc(0));
    const refused = await fourth.closed;
    assert.equal(refused.bytes, 0, 'the fourth connection was served');
    assert.ok(
      held.every((h) => !h.isClosed()),
      'a held connection closed before the fourth was refused',
    );
    // the worker's handshake deadline (2 s) ends the three; their slots come back when the worker says so
    const ends = await Promise.all(held.map((h) => h.closed));
    for (const e of ends) assert.ok(e.afterMs >= 1_500, `closed after ${e.afterMs} ms, before its deadline`);
    // a request from this address is served again (a refused one throws: not yet)
    const s = await pollFor('this address served again', () => status(), 10_000);
    assert.ok((s.main.refused['worker-tls-failed'] ?? 0) >= 3, JSON.stringify(s.main.refused));
    assert.ok(
      Object.entries(s.main.refused).some(([k, n]) => k.startsWith('per-address') && n >= 1),
      JSON.stringify(s.main.refused),
    );
    assert.equal(s.main.tlsWorkers[0]!.connections, 0, 'the worker still counts the stalled connections');
  });

  it('stops on SIGTERM with its worker, without waiting on the connections the worker had', async () => {
    const agent = new TestClient(fleet.wsUrl, { anyCert: true, alpn: AGENT_TLS });
    await agent.opened();
    // and a connection the worker holds that nobody closes before its 10 s header deadline
    const idle = tlsConnect({
      host: '127.0.0.1',
      port: port(),
      ALPNProtocols: AGENT_TLS,
      rejectUnauthorized: false,
    });
    idle.on('error', () => {});
    await once(idle, 'secureConnect');
    const idleClosed = once(idle, 'close');
    const [w] = (await status()).main.tlsWorkers;
    assert.equal(w!.connections, 2);
    const master = fleet.master;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      master.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const t0 = Date.now();
    master.kill('SIGTERM');
    const how = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    assert.deepEqual(how, { code: 0, signal: null }, 'the master did not exit by itself');
    assert.ok(Date.now() - t0 < 5_000, `the master took ${Date.now() - t0} ms to stop`);
    await pollFor('the worker gone with its master', () => (alive(w!.pid!) ? undefined : true), 5_000);
    assert.ok(await closedWithin(agent, 10_000), 'a link outlived its master');
    await idleClosed;
  });

  /** A raw TCP connection to the master that writes `bytes` and then only listens. */
  function openRaw(bytes: Buffer) {
    const t0 = Date.now();
    const sock = netConnect(port(), '127.0.0.1');
    let received = 0;
    let closed = false;
    sock.on('error', () => {});
    const answered = new Promise<void>((resolve) => sock.once('data', () => resolve()));
    sock.on('data', (c: Buffer) => {
      received += c.length;
    });
    if (bytes.length > 0) sock.write(bytes);
    return {
      answered,
      isClosed: () => closed,
      closed: new Promise<{ afterMs: number; bytes: number }>((resolve) =>
        sock.once('close', () => {
          closed = true;
          resolve({ afterMs: Date.now() - t0, bytes: received });
        }),
      ),
    };
  }
});
