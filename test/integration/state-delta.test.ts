/**
 * State deltas with real processes on 127.0.0.1: a master playing a simulated timeline (one variable at a
 * time, an alarm set and cleared, on battery and back, the source lost and regained), a real agent process
 * with a notify command and a webhook, and raw protocol clients: one announcing `state-delta` (it must get
 * one full state and then only deltas, counted on the wire), one without (full states only, as an older
 * agent). The states rebuilt from deltas equal the full states; the agent's notify command and webhook see
 * at each event exactly the variables the full-state client held then. After the master restarts, the agent
 * starts again from a full state and deltas follow on from it, with no gap anywhere.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  launchFleet,
  type RunningFleet,
  startAgentProcess,
  stopProcesses,
} from '../../cli/demo/fleet-launcher.js';
import type { MasterMsg, StateMsg } from '../../shared/protocol/messages.js';
import { StateFollower } from '../../shared/protocol/state-delta.js';
import { TestClient } from '../support/ws-client.js';

const TIMELINE = `# one change at a time, after the clients connected
ups.status: OL CHRG
battery.charge: 100
battery.runtime: 1800
input.voltage: 230
ups.load: 20
TIMER 8
battery.charge: 99
TIMER 0.3
ups.load: 21
TIMER 0.3
ups.status: OB DISCHRG
input.voltage: 0
TIMER 0.3
battery.charge: 95
TIMER 0.3
ALARM Replace battery
TIMER 0.3
battery.runtime: 1500
TIMER 0.3
ALARM
TIMER 0.3
ups.status: OL CHRG
input.voltage: 229
TIMER 0.3
COMMBAD scripted
TIMER 1
COMMOK
TIMER 0.3
battery.charge: 96
TIMER 0.3
ups.load: 22
TIMER 6000
`;

type Line = Record<string, unknown>;
const readLines = (file: string): Line[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line)
    : [];

/** A log line's time (pino: epoch ms, or ISO with the agent's timestamp setting). */
const timeOf = (l: Line): number => (typeof l.time === 'number' ? l.time : Date.parse(String(l.time)));

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const contentOf = (s: StateMsg) =>
  JSON.stringify({ ups: s.ups, vars: s.vars, stale: s.stale, policy: s.policy });
const states = (msgs: MasterMsg[]) => msgs.filter((m): m is StateMsg => m.type === 'state');

/** For each event a client got, the variables of the state it held then (rebuilt from deltas if need be). */
function varsAtEvents(msgs: MasterMsg[]): Array<{ event: string; vars: Record<string, string> }> {
  const follower = new StateFollower();
  let held: Record<string, string> = {};
  const out: Array<{ event: string; vars: Record<string, string> }> = [];
  for (const m of msgs) {
    if (m.type === 'state') {
      follower.onState(m);
      held = m.vars;
    } else if (m.type === 'state-delta') {
      const r = follower.onDelta(m);
      assert.equal(r.kind, 'state');
      if (r.kind === 'state') held = r.state.vars;
    } else if (m.type === 'event') out.push({ event: m.event, vars: held });
  }
  return out;
}

describe('state deltas between real processes', () => {
  let dir: string;
  let fleet: RunningFleet;
  let receiver: Server;
  const hooks: Array<{ event: string; vars: Record<string, string>; ts: string }> = [];
  let agent: ReturnType<typeof startAgentProcess>;
  let agentLog: string;
  let notifyFile: string;
  const clients: TestClient[] = [];

  async function client(id: string, capabilities: string[]): Promise<TestClient> {
    const c = new TestClient(fleet.wsUrl);
    clients.push(c);
    await c.opened();
    await c.hello({ agentId: id, token: fleet.agentToken(id), capabilities });
    return c;
  }

  const agentConnected = async () => {
    const s = await fleet.getJson<{ agents: Array<{ id: string; connected: boolean }> }>('/status');
    return s.agents.some((a) => a.id === 'watch1' && a.connected);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-delta-it-'));
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        hooks.push(JSON.parse(body) as (typeof hooks)[number]);
        res.writeHead(200).end('{}');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    fleet = await launchFleet({
      dir,
      insecure: true,
      fixedPort: true,
      timeline: TIMELINE,
      groups: [
        { name: 'watch', agents: ['watch1'], external: true },
        { name: 'raw', agents: ['rawdelta', 'rawold', 'rawafter'], external: true },
      ],
      sequence: [{ groups: ['watch'] }, { groups: ['raw'] }],
    });
    notifyFile = join(dir, 'notify.lines');
    agentLog = join(dir, 'logs', 'watch1.log');
    const config = join(dir, 'agents', 'watch1.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        agent: {
          id: 'watch1',
          group: 'watch',
          token: fleet.agentToken('watch1'),
          stateDir: join(dir, 'agents', 'watch1.state'),
        },
        master: { urls: [fleet.wsUrl] },
        reconnect: { initial: '200ms', max: '1s' },
        shutdown: {
          dryRun: true,
          marker: join(dir, 'markers', 'watch1.poweroff'),
          command: ['systemctl', 'poweroff'],
        },
        notify: {
          command: [
            'sh',
            '-c',
            `printf '%s|%s|%s|%s\\n' "$UPSFLEET_EVENT" "$UPSFLEET_STATUS" "$UPSFLEET_CHARGE" "$UPSFLEET_RUNTIME" >> ${notifyFile}`,
          ],
          webhooks: [{ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }],
        },
        log: { level: 'debug' },
      }),
    );
    agent = startAgentProcess(config, agentLog);
    await client('rawdelta', ['state-delta']);
    await client('rawold', []);
    const deadline = Date.now() + 30_000;
    while (!(await agentConnected())) {
      assert.ok(Date.now() < deadline, 'the agent did not connect');
      assert.equal(agent.exitCode, null, `the agent exited; see ${agentLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // the timeline's last change reached everyone
    await until(
      () => states(clients[1]!.messages).some((s) => s.vars['ups.load'] === '22'),
      'the timeline to end',
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    await stopProcesses(agent ? [agent] : []);
    await fleet?.stop();
    receiver?.close();
    if (dir && !process.env.KEEP_IT) rmSync(dir, { recursive: true, force: true });
  });

  it('gives a delta agent one full state and then deltas that rebuild every full state', () => {
    const [delta, old] = clients as [TestClient, TestClient];
    const count = (c: TestClient, type: string) => c.messages.filter((m) => m.type === type).length;
    assert.deepEqual(delta.invalid, []);
    assert.equal(count(delta, 'state'), 1, 'one full state, right after the welcome');
    assert.equal(delta.messages[1]?.type, 'state');
    assert.ok(count(delta, 'state-delta') >= 12, `${count(delta, 'state-delta')} deltas`);
    assert.equal(count(old, 'state-delta'), 0, 'no delta to a client without the capability');
    // the broadcasts both saw, from the end: the rebuilt states are the full states
    const follower = new StateFollower();
    const rebuilt: StateMsg[] = [];
    for (const m of delta.messages) {
      if (m.type === 'state') follower.onState(m);
      if (m.type !== 'state-delta') continue;
      const r = follower.onDelta(m);
      assert.equal(r.kind, 'state', r.kind === 'gap' ? r.why : '');
      if (r.kind === 'state') rebuilt.push(r.state);
    }
    const full = states(old.messages).slice(1);
    const n = Math.min(full.length, rebuilt.length);
    assert.ok(n >= 12);
    assert.deepEqual(rebuilt.slice(-n).map(contentOf), full.slice(-n).map(contentOf));
    // the alarm's removal went as a removed name; the source's loss as stale
    const deltas = delta.messages.filter((m) => m.type === 'state-delta');
    assert.ok(deltas.some((d) => d.unset?.includes('ups.alarm')));
    assert.ok(deltas.some((d) => d.stale === true));
    // bytes on the wire for a one-variable change (ups.load 21 -> 22): the report's figure
    const fullText = old.texts.find((t) => t.includes('"ups.load":"22"'))!;
    const deltaText = delta.texts.find((t) => t.includes('"set":{"ups.load":"22"}'))!;
    assert.ok(deltaText, 'the last change was a delta of one variable');
    console.log(
      `# one-variable change: full state ${Buffer.byteLength(fullText)} bytes, delta ${Buffer.byteLength(deltaText)} bytes`,
    );
    assert.ok(Buffer.byteLength(deltaText) * 2 < Buffer.byteLength(fullText));
  });

  it("shows the agent's notify command and webhook exactly the variables a full-state agent held", async () => {
    const expected = varsAtEvents(clients[1]!.messages);
    assert.ok(expected.length >= 2, `events: ${expected.map((e) => e.event).join(' ')}`);
    assert.deepEqual(
      varsAtEvents(clients[0]!.messages).map((e) => JSON.stringify(e)),
      expected.map((e) => JSON.stringify(e)),
    );
    await until(() => hooks.length >= expected.length, 'a webhook per event');
    await until(
      () =>
        existsSync(notifyFile) &&
        readFileSync(notifyFile, 'utf8').trim().split('\n').length >= expected.length,
      'notify',
    );
    // deliveries run concurrently: compared as sets
    const sorted = (xs: string[]) => [...xs].sort();
    assert.deepEqual(
      sorted(hooks.map((h) => JSON.stringify({ event: h.event, vars: h.vars }))),
      sorted(expected.map((e) => JSON.stringify(e))),
    );
    assert.deepEqual(
      sorted(readFileSync(notifyFile, 'utf8').trim().split('\n')),
      sorted(
        expected.map(
          (e) =>
            `${e.event}|${e.vars['ups.status'] ?? ''}|${e.vars['battery.charge'] ?? ''}|${e.vars['battery.runtime'] ?? ''}`,
        ),
      ),
    );
    // the agent itself took deltas: its log fields say so, and it never missed one (its log is written
    // asynchronously and the agent may still be working through the last broadcasts on a busy machine)
    const deltasLogged = () => readLines(agentLog).filter((l) => l.msgType === 'state-delta').length;
    await until(() => deltasLogged() >= 12, 'the agent to log 12 deltas', 30_000).catch((err: Error) => {
      throw new Error(`${err.message} (${deltasLogged()} logged)`);
    });
    const lines = readLines(agentLog);
    assert.equal(lines.filter((l) => l.msgType === 'state').length, 1);
    assert.equal(lines.filter((l) => l.stateGaps !== undefined).length, 0);
  });

  it('starts again from a full state after the master restarts, and deltas follow on from it', async () => {
    const restartedAt = Date.now();
    await fleet.restartMaster();
    const after = await client('rawafter', ['state-delta']);
    const first = await after.waitFor('state');
    assert.equal(after.messages[1], first[0], 'a full state right after the welcome');
    assert.equal(typeof first[0]!.rev, 'number');
    await until(
      () => readLines(agentLog).filter((l) => l.msgType === 'state').length >= 2,
      'the agent back',
      60_000,
    );
    await fleet.admin('/api/simulate', { name: 'battery.charge', value: '97' });
    await until(
      () => after.messages.some((m) => m.type === 'state-delta' && m.set?.['battery.charge'] === '97'),
      'a delta',
    );
    await until(
      () => readLines(agentLog).some((l) => l.msgType === 'state-delta' && timeOf(l) >= restartedAt),
      'a delta at the agent',
    );
    const received = readLines(agentLog).filter((l) => l.msgType !== undefined);
    const sinceRestart = received.filter((l) => timeOf(l) >= restartedAt);
    assert.equal(sinceRestart[0]?.msgType, 'state', 'the first state after the restart is a full one');
    // every delta applies on top of the revision just before it: no gap across the restart either
    received.forEach((l, i) => {
      if (l.msgType === 'state-delta') assert.equal(l.base, received[i - 1]?.rev, `line ${i}`);
    });
    assert.equal(readLines(agentLog).filter((l) => l.stateGaps !== undefined).length, 0);
    assert.equal(agent.exitCode, null);
  });
});
