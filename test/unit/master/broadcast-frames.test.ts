/**
 * The fan-out frames a broadcast once for every agent (master/servers/shared-frame.ts): agents still get
 * exactly the messages they got before, an agent with `seq` its own numbered copy in order with the
 * messages sent to it alone, an agent without the capability the plain message; over ws and over wss.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { keygen } from '../../../cli/commands/keygen.js';
import { FleetRegistry } from '../../../master/fleet/registry.js';
import { AgentServer } from '../../../master/servers/agent-server.js';
import { HttpServer } from '../../../master/servers/http-server.js';
import { SharedFrame, sendFrame, textFrameHeader } from '../../../master/servers/shared-frame.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { hashToken } from '../../../shared/auth/token.js';
import { systemClock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/logger.js';
import { decodeMasterMessage, encode, envelop } from '../../../shared/protocol/codec.js';
import type { AgentMsg } from '../../../shared/protocol/messages.js';

/** ws's own framing (exported at run time, not in its typings): the reference for our headers. */
const wsSender = (wsModule as unknown as { Sender: { frame(data: Buffer, o: object): Buffer[] } }).Sender;

describe('a broadcast framed once', () => {
  it('writes the header ws writes for the same payload, at every length class', () => {
    for (const length of [0, 1, 125, 126, 127, 1000, 65_535, 65_536, 70_000]) {
      const payload = Buffer.alloc(length, 0x61);
      const [wsHeader] = wsSender.frame(payload, {
        fin: true,
        opcode: 1,
        mask: false,
        readOnly: true,
        rsv1: false,
      });
      assert.deepEqual(textFrameHeader(length), wsHeader, `length ${length}`);
    }
  });

  it('frames the same bytes as the text it would send, plain and numbered (multi-byte characters too)', () => {
    const json = JSON.stringify({ v: 1, type: 'event', message: 'Netzausfall – Batterie ⚡' });
    const f = new SharedFrame(json);
    const plain = Buffer.concat(f.plain());
    assert.equal(plain.subarray(2).toString('utf8'), json);
    assert.equal(plain[1], Buffer.byteLength(json));
    const numbered = Buffer.concat(f.numbered('0123456789abcdef', 42));
    const text = f.text({ sid: '0123456789abcdef', seq: 42 });
    assert.equal(numbered.subarray(2).toString('utf8'), text);
    assert.equal(numbered[1], Buffer.byteLength(text));
    assert.deepEqual(JSON.parse(text), { ...JSON.parse(json), sid: '0123456789abcdef', seq: 42 });
  });

  it('goes through ws.send when ws has something of its own queued on the connection', () => {
    const sent: string[] = [];
    const written: Buffer[] = [];
    const socket = { writable: true, destroyed: false, write: (b: Buffer) => written.push(b) };
    const fake = {
      readyState: WebSocket.OPEN,
      _socket: socket,
      _sender: { _state: 1, _queue: [] },
      send: (t: string) => sent.push(t),
    } as unknown as WebSocket;
    const f = new SharedFrame('{"a":1}');
    sendFrame(fake, f.plain(), () => f.text());
    assert.deepEqual(sent, ['{"a":1}']);
    assert.equal(written.length, 0);
    (fake as unknown as { _sender: { _state: number } })._sender._state = 0;
    sendFrame(fake, f.plain(), () => f.text());
    assert.equal(sent.length, 1);
    assert.equal(Buffer.concat(written).subarray(2).toString(), '{"a":1}');
  });

  for (const secure of [false, true]) {
    describe(secure ? 'over wss' : 'over ws', () => {
      const dir = mkdtempSync(join(tmpdir(), 'upsfleet-frames-'));
      const hub = new StateHub('ups', systemClock);
      const policy = { critical: false, reason: null, onBatterySince: null, communicating: true };
      const tokens = { seq1: 'token-seq1-xxxxxxxx', old1: 'token-old1-xxxxxxxx' };
      const agentServer = new AgentServer({
        masterId: 'm1',
        agents: Object.entries(tokens).map(([id, t]) => ({ id, group: 'app', tokenHash: hashToken(t) })),
        registry: new FleetRegistry(),
        clock: systemClock,
        logger: silentLogger(),
        pingIntervalMs: 60_000,
        snapshot: () => ({ hub: hub.snapshot(), policy }),
        stepOf: () => 1,
        steps: 1,
        feedback: { ack: () => {}, progress: () => {}, goingDown: () => {}, drillReport: () => {} },
      });
      let certPem = '';
      let tls: { keyPem: string; certPem: string } | null = null;
      if (secure) {
        keygen({
          certFile: join(dir, 'm.crt'),
          keyFile: join(dir, 'm.key'),
          names: ['127.0.0.1'],
          commonName: 'frames test',
          force: true,
        });
        certPem = readFileSync(join(dir, 'm.crt'), 'utf8');
        tls = { keyPem: readFileSync(join(dir, 'm.key'), 'utf8'), certPem };
      }
      const http = new HttpServer({
        host: '127.0.0.1',
        port: 0,
        logger: silentLogger(),
        agentServer,
        admins: [],
        status: () => ({}),
        admin: { simulate: async () => {}, fsd: async () => {}, drill: async () => undefined },
        tls,
      });
      let port = 0;
      before(async () => {
        port = (await http.start()).port;
      });
      after(async () => {
        await agentServer.stop();
        await http.stop();
        rmSync(dir, { recursive: true, force: true });
      });

      /** A raw client: every text frame as received, and the protocol's answers (pong) numbered if asked. */
      async function client(id: keyof typeof tokens, capabilities: string[]) {
        const ws = new WebSocket(
          `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`,
          secure ? { ca: certPem } : {},
        );
        const texts: string[] = [];
        let sid: string | undefined;
        let seq = 0;
        const errors: string[] = [];
        ws.on('error', (e) => errors.push(e.message));
        ws.on('close', (code) => {
          if (code !== 1000 && code !== 1005 && code !== 4030) errors.push(`closed ${code}`);
        });
        ws.on('message', (data, isBinary) => {
          assert.equal(isBinary, false);
          const text = String(data);
          texts.push(text);
          const d = decodeMasterMessage(text);
          if (!d.ok) errors.push(d.reason);
          else if (d.msg.type === 'welcome') sid = d.msg.sid;
          else if (d.msg.type === 'ping') send({ type: 'pong' });
        });
        const send = (body: Record<string, unknown>) => {
          const m = envelop(body as never) as AgentMsg & { sid?: string; seq?: number };
          if (sid) Object.assign(m, { sid, seq: ++seq });
          ws.send(encode(m));
        };
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        send({
          type: 'hello',
          agentId: id,
          group: 'app',
          version: 'test',
          capabilities,
          token: tokens[id],
          dryRun: true,
        });
        return { ws, texts, errors };
      }

      async function until(cond: () => boolean): Promise<void> {
        for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(cond(), 'timed out');
      }

      it('agents with and without seq get the same messages, numbered in order with their own', async () => {
        hub.publishVars({ 'ups.status': 'OL', 'battery.charge': '100' });
        const numbered = await client('seq1', ['seq']);
        const plain = await client('old1', []);
        // welcome, state, first ping
        await until(() => numbered.texts.length >= 3 && plain.texts.length >= 3);
        const rounds = 20;
        for (let i = 0; i < rounds; i++) {
          hub.publishVars({ 'battery.charge': String(99 - i), 'ups.status': i % 2 ? 'OL' : 'OB DISCHRG' });
          agentServer.broadcastState(hub.snapshot(), policy);
          agentServer.broadcastEvent(i % 2 ? 'ONLINE' : 'ONBATT', `round ${i} – é`);
        }
        await until(() => numbered.texts.length >= 3 + 2 * rounds && plain.texts.length >= 3 + 2 * rounds);
        // /status's fanout: each broadcast timed, to the two agents
        const fanout = agentServer.fanoutView;
        assert.equal(fanout.broadcasts, 2 * rounds);
        assert.equal(fanout.lastAgents, 2);
        assert.equal(fanout.recentMs.length, 2 * rounds);
        assert.ok(fanout.recentMs.every((ms) => ms >= 0 && ms <= (fanout.maxMs ?? -1)));
        assert.deepEqual(numbered.errors, []);
        assert.deepEqual(plain.errors, []);
        const n = numbered.texts.map((t) => JSON.parse(t) as Record<string, unknown>);
        const p = plain.texts.map((t) => JSON.parse(t) as Record<string, unknown>);
        // every message of the seq agent carries its sid and the next number, broadcast or not
        const sid = n[0]!.sid;
        assert.equal(typeof sid, 'string');
        n.forEach((m, i) => {
          assert.equal(m.sid, sid, `message ${i}`);
          assert.equal(m.seq, i + 1, `message ${i}`);
        });
        assert.ok(p.every((m) => m.sid === undefined && m.seq === undefined));
        // the broadcasts: byte for byte the same message for both, but for the seq agent's sid and seq
        const broadcastsN = numbered.texts.slice(3);
        const broadcastsP = plain.texts.slice(3);
        assert.equal(broadcastsN.length, broadcastsP.length);
        broadcastsP.forEach((text, i) => {
          const m = n[3 + i]!;
          assert.equal(broadcastsN[i], `${text.slice(0, -1)},"sid":"${sid}","seq":${m.seq}}`);
        });
        assert.deepEqual(
          p
            .slice(3)
            .map((m) =>
              m.type === 'state' ? (m.vars as Record<string, string>)['battery.charge'] : m.event,
            ),
          Array.from({ length: rounds }, (_, i) => [String(99 - i), i % 2 ? 'ONLINE' : 'ONBATT']).flat(),
        );
        numbered.ws.close();
        plain.ws.close();
      });
    });
  }
});
