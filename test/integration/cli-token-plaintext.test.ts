/**
 * The CLI never sends a token in clear off loopback (issue 14): `--master HOST:PORT` without a scheme,
 * http:// and ws:// to a non-loopback address are refused with TOKEN_PLAINTEXT before any connection, as
 * agents refuse ws:// there; loopback stays allowed. A listener on this host's own non-loopback address
 * (traffic to it never leaves the host) records whether anything arrived.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const CLI = join(import.meta.dirname, '../../cli/main.ts');
const TOKEN = 'upf_plaintext-test-token-xxxxxxxx';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, UPSFLEET_ADMIN_TOKEN: '' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** This host's own non-loopback IPv4 address, if it has one; else a documentation address nobody answers. */
function ownAddress(): { ip: string; local: boolean } {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return { ip: a.address, local: true };
  return { ip: '192.0.2.1', local: false };
}

/** A TCP listener that answers every request 200 and keeps what it received. */
async function recorder(host: string): Promise<{ server: Server; port: number; received: () => string }> {
  let received = '';
  const server = createServer((s) => {
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n'))
        s.end('HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{"ok":true}    ');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as { port: number }).port;
  return { server, port, received: () => received };
}

describe('CLI: no token in clear off loopback', () => {
  const own = ownAddress();
  let remote: Awaited<ReturnType<typeof recorder>> | null = null;
  let port = 9; // discard: nothing listens on the documentation address anyway
  before(async () => {
    if (own.local) {
      remote = await recorder(own.ip);
      port = remote.port;
    }
  });
  after(() => remote?.server.close());

  for (const form of ['HOST:PORT', 'http://HOST:PORT', 'ws://HOST:PORT/ws']) {
    it(`refuses simulate --master ${form} to a non-loopback address (TOKEN_PLAINTEXT, nothing sent)`, async () => {
      const master = form.replace('HOST', own.ip).replace('PORT', String(port));
      const r = await cli(['simulate', '--master', master, '--token', TOKEN, 'set', 'battery.charge', '50']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /TOKEN_PLAINTEXT/);
      assert.match(r.stderr, /use https:\/\//);
      assert.equal(remote?.received() ?? '', '', 'nothing reached the address');
    });
  }

  it('refuses drill and monitor with a token over plain http to a non-loopback address', async () => {
    const master = `${own.ip}:${port}`;
    const drill = await cli(['drill', '--master', master, '--token', TOKEN]);
    assert.equal(drill.code, 2, drill.stderr);
    assert.match(drill.stderr, /TOKEN_PLAINTEXT/);
    const monitor = await cli(['monitor', `http://${master}`, '--token', TOKEN]);
    assert.equal(monitor.code, 2, monitor.stderr);
    assert.match(monitor.stderr, /TOKEN_PLAINTEXT/);
    assert.equal(remote?.received() ?? '', '', 'nothing reached the address');
  });

  it('still sends the token over plain http to loopback', async () => {
    const local = await recorder('127.0.0.1');
    try {
      const r = await cli([
        'simulate',
        '--master',
        `127.0.0.1:${local.port}`,
        '--token',
        TOKEN,
        'set',
        'battery.charge',
        '50',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(local.received(), new RegExp(`authorization: Bearer ${TOKEN}`, 'i'));
    } finally {
      local.server.close();
    }
  });
});
