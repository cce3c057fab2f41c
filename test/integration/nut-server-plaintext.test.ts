/**
 * Passwords in clear off loopback (issue 14), on a test network (net-lab.ts: the server listens on the
 * test's own address there, so its clients come from a non-loopback address): PASSWORD in clear is refused
 * and the connection closed; after STARTTLS the same login works; with nut.allowPlaintextLogin it works in
 * clear; reading needs no login and still works in clear. A real `upsc` reads the UPS the same way.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { FleetRegistry } from '../../master/fleet/registry.js';
import { NutServer } from '../../master/nut/server/nut-server.js';
import { StateHub } from '../../master/state/state-hub.js';
import { systemClock } from '../../shared/clock.js';
import type { NutServerConfigT } from '../../shared/config/nut-server-schema.js';
import { silentLogger } from '../../shared/logger.js';
import { createSelfSigned } from '../../shared/tls/self-signed.js';
import { createNetLab, type NetLab, netLabSkipReason } from '../fault/net-lab.js';
import { nutMissing } from '../interop/nut-sandbox.js';
import { FakeSource } from '../unit/nut/helpers.js';

const skip = netLabSkipReason() ?? false;
const USERS: NutServerConfigT['users'] = [{ name: 'nasmon', password: 'nas-pass', upsmon: 'secondary' }];

async function nutServer(
  host: string,
  extra: Partial<NutServerConfigT> = {},
): Promise<{ server: NutServer; port: number }> {
  const clock = systemClock;
  const hub = new StateHub('ups', clock);
  hub.publishVars({ 'ups.status': 'OL', 'battery.charge': '100' });
  const cert = createSelfSigned({ commonName: 'nut test', altNames: [host] });
  const server = new NutServer({
    config: { listen: `${host}:0`, users: USERS, ...extra },
    hub,
    registry: new FleetRegistry(),
    source: new FakeSource(),
    clock,
    logger: silentLogger(),
    onFsd: () => {},
    tls: { keyPem: cert.keyPem, certPem: cert.certPem },
  });
  const { port } = await server.start();
  return { server, port };
}

/** Sends lines one at a time; each reply line, `null` once the connection is closed. */
function talk(s: Socket | TLSSocket): (line: string) => Promise<string | null> {
  let buf = '';
  const queue: string[] = [];
  const waiting: Array<(l: string | null) => void> = [];
  let closed = false;
  s.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(l);
      else queue.push(l);
    }
  });
  s.on('error', () => {});
  s.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w(null);
  });
  const next = (): Promise<string | null> => {
    const l = queue.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (closed) return Promise.resolve(null);
    return new Promise((resolve) => waiting.push(resolve));
  };
  return (line) => {
    if (line !== '') s.write(`${line}\n`);
    return next();
  };
}

function open(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => resolve(s));
    s.once('error', reject);
  });
}

describe('NUT logins in clear off loopback', { skip }, () => {
  let lab: NetLab;
  let host: string;
  const servers: NutServer[] = [];
  before(() => {
    lab = createNetLab(['reader']);
    host = lab.rootAddress;
  });
  after(async () => {
    for (const s of servers) await s.stop();
    lab?.destroy();
  });

  test('PASSWORD in clear from another host is refused and closes the connection; reading still works', async () => {
    const { server, port } = await nutServer(host);
    servers.push(server);
    const s = await open(host, port);
    assert.notEqual(s.localAddress, '127.0.0.1');
    const say = talk(s);
    assert.equal(await say('GET VAR ups ups.status'), 'VAR ups ups.status "OL"');
    assert.equal(await say('USERNAME nasmon'), 'OK');
    assert.equal(await say('PASSWORD nas-pass'), 'ERR ACCESS-DENIED');
    assert.equal(await say(''), null, 'the connection stayed open');
    s.destroy();
  });

  test('after STARTTLS the same login is accepted', async () => {
    const { server, port } = await nutServer(host);
    servers.push(server);
    const raw = await open(host, port);
    const sayRaw = talk(raw);
    assert.equal(await sayRaw('STARTTLS'), 'OK STARTTLS');
    raw.removeAllListeners('data');
    const tls = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const say = talk(tls);
    assert.equal(await say('USERNAME nasmon'), 'OK');
    assert.equal(await say('PASSWORD nas-pass'), 'OK');
    assert.equal(await say('LOGIN ups'), 'OK');
    tls.destroy();
  });

  test('nut.allowPlaintextLogin: the operator accepts logins in clear', async () => {
    const { server, port } = await nutServer(host, { allowPlaintextLogin: true });
    servers.push(server);
    const s = await open(host, port);
    const say = talk(s);
    assert.equal(await say('USERNAME nasmon'), 'OK');
    assert.equal(await say('PASSWORD nas-pass'), 'OK');
    assert.equal(await say('LOGIN ups'), 'OK');
    s.destroy();
  });

  test('a real upsc on another host reads the UPS in clear', { skip: nutMissing(['upsc']) }, async () => {
    const { server, port } = await nutServer(host);
    servers.push(server);
    // run asynchronously: the server answering it lives in this process
    const w = lab.wrap('reader');
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      execFile(
        w[0]!,
        [...w.slice(1), 'upsc', `ups@${host}:${port}`, 'ups.status'],
        { timeout: 20_000 },
        (_e, stdout, stderr) => resolve({ stdout, stderr }),
      );
    });
    assert.equal(r.stdout.trim(), 'OL', `upsc: ${r.stderr}`);
  });
});
