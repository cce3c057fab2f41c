/**
 * TLS on the master's listener and the agent's pin: the right fingerprint connects, a wrong one is refused
 * (log shows both) before hello (so before the token) leaves the agent, CA verification is the
 * alternative, a plain-text client on the TLS port fails cleanly, and nothing starts without TLS off loopback.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { MasterConnection } from '../../../agent/master-connection.js';
import { addToken } from '../../../master/auth/token-store.js';
import { Master } from '../../../master/master.js';
import { generateToken } from '../../../shared/auth/token.js';
import { systemClock } from '../../../shared/clock.js';
import { parseAgentSettings } from '../../../shared/config/agent-settings.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { MasterMsg } from '../../../shared/protocol/messages.js';
import { fingerprintOfPem, normalizeFingerprint } from '../../../shared/tls/fingerprint.js';
import { pinnedRequest } from '../../../shared/tls/pinned-request.js';
import { createSelfSigned } from '../../../shared/tls/self-signed.js';
import { captureLogger, startTlsMaster, type TlsMaster } from './helpers.js';

function connectAgent(
  url: string,
  token: string,
  tls: { fingerprints: string[]; caPem?: string },
  logger = silentLogger(),
  agentId = 'web1',
  group = 'app',
) {
  const messages: MasterMsg[] = [];
  const mismatches: string[] = [];
  const conn = new MasterConnection({
    urls: [url],
    tls,
    hello: { agentId, group, version: 'test', capabilities: [], token, dryRun: true },
    reconnect: { initialMs: 50, maxMs: 200 },
    clock: systemClock,
    logger,
    onMessage: (m) => messages.push(m),
    onPinMismatch: (_u, presented) => mismatches.push(presented),
  });
  conn.start();
  return { conn, messages, mismatches };
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('TLS and pinning', () => {
  let m: TlsMaster;
  let token = '';

  before(async () => {
    m = await startTlsMaster();
    token = addToken(m.master.settings.tokensFile, 'web1', 'agent', 'app');
  });
  after(async () => {
    await m.master.stop();
  });

  it('makes a self-signed P-256 certificate node parses, with the loopback names and a matching key', () => {
    const kc = createSelfSigned({ commonName: 'x', altNames: ['localhost', '127.0.0.1', '::1', 'h.local'] });
    const cert = new X509Certificate(kc.certPem);
    assert.match(
      cert.subjectAltName ?? '',
      /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, DNS:h\.local/,
    );
    assert.equal(
      fingerprintOfPem(kc.certPem),
      `sha256:${cert.fingerprint256.replace(/:/g, '').toLowerCase()}`,
    );
    assert.equal(normalizeFingerprint(cert.fingerprint256), fingerprintOfPem(kc.certPem));
    assert.equal(normalizeFingerprint('nope'), null);
  });

  it('serves wss:// and writes the fingerprint where tools find it', () => {
    assert.equal(m.master.tls?.fingerprint, m.fingerprint);
  });

  it('connects an agent that pins the right fingerprint', async () => {
    const a = connectAgent(m.url, token, { fingerprints: [m.fingerprint] });
    await until(() => a.messages.some((x) => x.type === 'welcome'));
    await a.conn.stop();
  });

  it('refuses a master whose certificate does not match the pin, logging both fingerprints, before any hello', async () => {
    const cap = captureLogger();
    const wrong = fingerprintOfPem(createSelfSigned({ commonName: 'other', altNames: [] }).certPem);
    const a = connectAgent(m.url, token, { fingerprints: [wrong] }, cap.logger);
    await until(() => a.mismatches.length > 0);
    await a.conn.stop();
    assert.equal(a.mismatches[0], m.fingerprint);
    const line = cap.find((l) => l.code === 'TLS_PIN_MISMATCH');
    assert.ok(line, 'a TLS_PIN_MISMATCH line');
    assert.equal(line.presented, m.fingerprint);
    assert.deepEqual(line.pinned, [wrong]);
    assert.match(String(line.msg), new RegExp(`${m.fingerprint}.*${wrong}`));
    assert.equal(a.messages.length, 0);
    assert.equal(m.master.registry.all().find((x) => x.id === 'web1')?.connected ?? false, false);
  });

  it('verifies against a CA instead of a pin (the self-signed certificate as its own CA, name 127.0.0.1)', async () => {
    const a = connectAgent(m.url, token, { fingerprints: [], caPem: m.certPem });
    await until(() => a.messages.some((x) => x.type === 'welcome'));
    await a.conn.stop();
  });

  it('refuses a master whose certificate does not chain to the configured CA', async () => {
    const cap = captureLogger();
    const other = createSelfSigned({ commonName: 'other CA', altNames: ['127.0.0.1'] }).certPem;
    const a = connectAgent(m.url, token, { fingerprints: [], caPem: other }, cap.logger);
    await until(() => cap.find((l) => l.code === 'TLS_VERIFY_FAILED') !== undefined);
    await a.conn.stop();
    assert.equal(a.messages.length, 0);
  });

  it('verifies with the system CAs when neither pin nor CA is given (never silently off)', async () => {
    const cap = captureLogger();
    const a = connectAgent(m.url, token, { fingerprints: [] }, cap.logger);
    await until(() => cap.find((l) => l.code === 'TLS_VERIFY_FAILED') !== undefined);
    await a.conn.stop();
    assert.equal(a.messages.length, 0);
  });

  it('answers a plain-text HTTP client on the TLS port with a clean 400 and closes', async () => {
    const port = Number(new URL(m.http).port);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/status' }, (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /TLS only: use https:\/\/ or wss:\/\//);
  });

  it('fails a plain ws:// client on the TLS port with an error, not a hang', async () => {
    const port = Number(new URL(m.http).port);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const err = await new Promise<Error>((resolve) => ws.once('error', resolve));
    assert.match(err.message, /Unexpected server response: 400/);
  });

  it('pins HTTPS requests too (CLI, launcher): right pin answers, wrong pin fails before the request is sent', async () => {
    const ok = await pinnedRequest(`${m.http}/status`, { fingerprints: [m.fingerprint] });
    assert.equal(ok.status, 200);
    const wrong = fingerprintOfPem(createSelfSigned({ commonName: 'o', altNames: [] }).certPem);
    await assert.rejects(pinnedRequest(`${m.http}/status`, { fingerprints: [wrong] }), (e: unknown) =>
      isUpsfleetError(e, 'TLS_PIN_MISMATCH'),
    );
  });
});

describe('TLS settings', () => {
  const yaml = (master: string) =>
    [master, 'ups:', '  source: { type: simulated }', 'sequence: [ { groups: [app] } ]'].join('\n');

  it('refuses to start on a non-loopback address without a certificate', async () => {
    const { tempDir } = await import('./helpers.js');
    const dir = tempDir('upsfleet-notls-');
    const s = parseMasterSettings(
      yaml('master: { id: m, listen: "0.0.0.0:0", stateDir: state }'),
      `${dir}/m.yaml`,
    );
    const master = new Master(s, { logger: silentLogger() });
    await assert.rejects(
      master.start(),
      (e: unknown) => isUpsfleetError(e, 'LISTEN_INSECURE') && /upsfleet keygen/.test((e as Error).message),
    );
    await master.stop();
  });

  it('allows tls.insecure on loopback only', () => {
    assert.throws(
      () =>
        parseMasterSettings(
          yaml('master: { id: m, listen: "0.0.0.0:8740", tls: { insecure: true } }'),
          '/tmp/m.yaml',
        ),
      /loopback/,
    );
    const s = parseMasterSettings(
      yaml('master: { id: m, listen: "127.0.0.1:8740", tls: { insecure: true } }'),
      '/tmp/m.yaml',
    );
    assert.equal(s.tls.insecure, true);
  });

  it('agent config: ws:// only to loopback, fingerprints normalised, auto needs a pin', () => {
    const agent = (master: string) =>
      `agent: { id: a, group: g, token: "${generateToken()}" }\nmaster: ${master}\n`;
    assert.throws(
      () => parseAgentSettings(agent('{ urls: ["ws://10.0.0.5:8740/ws"] }'), '/tmp/a.yaml'),
      /loopback/,
    );
    assert.throws(() => parseAgentSettings(agent('{ auto: true }'), '/tmp/a.yaml'), /fingerprint/);
    assert.throws(
      () => parseAgentSettings(agent('{ urls: ["wss://h:1/ws"], fingerprint: "abc" }'), '/tmp/a.yaml'),
      /SHA-256/,
    );
    const fp = `AB:${'CD:'.repeat(30)}EF`;
    const s = parseAgentSettings(agent(`{ urls: ["wss://h:1/ws"], fingerprint: "${fp}" }`), '/tmp/a.yaml');
    assert.deepEqual(s.masterTls.fingerprints, [normalizeFingerprint(fp)]);
    assert.equal(
      parseAgentSettings(agent(`{ auto: true, fingerprint: "${fp}" }`), '/tmp/a.yaml').masterAuto,
      true,
    );
  });
});
