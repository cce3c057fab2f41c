/**
 * The SSH client's protocol parts against ssh2's own Server on 127.0.0.1 (port 0): the host key pin is
 * checked before anything is sent, a refused key, a refused port, exit statuses and stderr, and a session
 * that drops before its exit status (what a host powering off does). The real sshd cases are in
 * test/hosts/ssh-targets.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2, { type Connection } from 'ssh2';
import { type SshTargetLogin, ssh2Connector } from '../../../master/ssh/ssh-client.js';
import { tcpProbe } from '../../../master/ssh/unreachable-watch.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import { type PinnedHostKey, parsePinnedHostKey } from '../../../shared/net/ssh-host-key.js';

const { Server, utils } = ssh2;
const pin = (line: string) => parsePinnedHostKey(line) as PinnedHostKey;

describe('SSH client against ssh2 Server', () => {
  const hostKey = utils.generateKeyPairSync('ed25519');
  const otherHostKey = utils.generateKeyPairSync('ed25519');
  const clientKey = utils.generateKeyPairSync('ed25519');
  const strangerKey = utils.generateKeyPairSync('ed25519');
  const allowed = utils.parseKey(clientKey.public);
  let server: ssh2.Server;
  let port = 0;
  let dir: string;
  /** Commands the server was asked to run, in order. */
  const ran: string[] = [];

  const login = (over: Partial<SshTargetLogin> = {}): SshTargetLogin => ({
    id: 'nas1',
    host: '127.0.0.1',
    port,
    user: 'upsfleet',
    keyFile: join(dir, 'id_ed25519'),
    hostKey: pin(hostKey.public),
    connectTimeoutMs: 5000,
    ...over,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-ssh-client-'));
    writeFileSync(join(dir, 'id_ed25519'), clientKey.private, { mode: 0o600 });
    writeFileSync(join(dir, 'stranger'), strangerKey.private, { mode: 0o600 });
    writeFileSync(join(dir, 'garbage'), 'not a key\n', { mode: 0o600 });
    server = new Server({ hostKeys: [hostKey.private] }, (client: Connection) => {
      client.on('authentication', (ctx) => {
        if (
          ctx.method === 'publickey' &&
          ctx.username === 'upsfleet' &&
          !(allowed instanceof Error) &&
          ctx.key.algo === allowed.type &&
          ctx.key.data.equals(allowed.getPublicSSH())
        ) {
          // no signature yet: the client asks whether this key would do
          if (!ctx.signature) return ctx.accept();
          return allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true
            ? ctx.accept()
            : ctx.reject();
        }
        ctx.reject(['publickey']);
      });
      client.on('error', () => {});
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec, _reject, info) => {
          ran.push(info.command);
          const stream = acceptExec();
          if (info.command === 'true') {
            stream.exit(0);
            stream.end();
          } else if (info.command === 'fail') {
            stream.stderr.write('sudo: a password is required\n');
            stream.exit(1);
            stream.end();
          } else if (info.command === 'poweroff') {
            // the host goes away before any exit status: the connection just ends
            setTimeout(() => client.end(), 50);
          } else {
            stream.write(`ran ${info.command}\n`);
            stream.exit(0);
            stream.end();
          }
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with the pinned key line and runs commands: exit status, stdout, stderr', async () => {
    const conn = await ssh2Connector(login());
    try {
      assert.equal(conn.hostKey.fingerprint, pin(hostKey.public).fingerprint);
      assert.equal(conn.hostKey.type, 'ssh-ed25519');
      let started = false;
      const ok = await conn.exec('echo hi', () => {
        started = true;
      });
      assert.ok(started);
      assert.deepEqual([ok.code, ok.dropped, ok.stdout], [0, false, 'ran echo hi\n']);
      const failed = await conn.exec('fail');
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /a password is required/);
    } finally {
      conn.close();
    }
  });

  it('accepts a SHA256 fingerprint pin as ssh-keygen -lf prints it', async () => {
    const fp = pin(hostKey.public).fingerprint;
    const conn = await ssh2Connector(login({ hostKey: pin(fp) }));
    conn.close();
    assert.equal(conn.hostKey.fingerprint, fp);
  });

  it('refuses another host key before sending anything, showing both fingerprints', async () => {
    const before = ran.length;
    const wrong = pin(otherHostKey.public);
    for (const hostKeyPin of [wrong, pin(wrong.fingerprint)]) {
      await assert.rejects(ssh2Connector(login({ hostKey: hostKeyPin })), (err: unknown) => {
        assert.ok(isUpsfleetError(err, 'SSH_HOST_KEY_MISMATCH'), String(err));
        assert.ok(err.message.includes(wrong.fingerprint), err.message);
        assert.ok(err.message.includes(pin(hostKey.public).fingerprint), err.message);
        assert.equal(err.details.pinned, wrong.fingerprint);
        assert.equal(err.details.seen, pin(hostKey.public).fingerprint);
        return true;
      });
    }
    assert.equal(ran.length, before, 'nothing may run on a host whose key does not match');
  });

  it('a refused key, an unreadable key, a refused port: each with its code', async () => {
    await assert.rejects(ssh2Connector(login({ keyFile: join(dir, 'stranger') })), (err: unknown) =>
      isUpsfleetError(err, 'SSH_AUTH_FAILED'),
    );
    await assert.rejects(ssh2Connector(login({ keyFile: join(dir, 'missing') })), (err: unknown) =>
      isUpsfleetError(err, 'SSH_KEY_UNREADABLE'),
    );
    await assert.rejects(ssh2Connector(login({ keyFile: join(dir, 'garbage') })), (err: unknown) =>
      isUpsfleetError(err, 'SSH_KEY_UNREADABLE'),
    );
    // a port that was just free: nothing listens there
    const spare = createTcpServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', () => r()));
    const closedPort = (spare.address() as { port: number }).port;
    await new Promise<void>((r) => spare.close(() => r()));
    await assert.rejects(ssh2Connector(login({ port: closedPort })), (err: unknown) => {
      assert.ok(isUpsfleetError(err, 'SSH_UNREACHABLE'), String(err));
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    assert.equal(await tcpProbe('127.0.0.1', closedPort, 1000), 'refused');
    assert.equal(await tcpProbe('127.0.0.1', port, 1000), 'open');
  });

  it('a session dropped before its exit status resolves as dropped, not as an error', async () => {
    const conn = await ssh2Connector(login());
    let started = false;
    const r = await conn.exec('poweroff', () => {
      started = true;
    });
    assert.ok(started, 'the exec request was accepted');
    assert.deepEqual([r.code, r.signal, r.dropped], [null, null, true]);
  });
});
