/** The NUT client's STARTTLS: upgrade after OK STARTTLS, verify the certificate against the given CA. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TLSSocket } from 'node:tls';
import { NutClient } from '../../../master/nut/client/nut-client.js';

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A tiny upsd stand-in: answers STARTTLS, then speaks over TLS. */
function fakeUpsd(key: string, cert: string): Promise<{ server: Server; port: number }> {
  const server = createServer((sock) => {
    sock.once('data', (d) => {
      assert.equal(d.toString(), 'STARTTLS\n');
      sock.write('OK STARTTLS\n', () => {
        const tls = new TLSSocket(sock, { isServer: true, key, cert });
        tls.on('error', () => {});
        tls.setEncoding('utf8');
        tls.on('data', (line: string) => {
          if (line.startsWith('GET VAR')) tls.write('VAR ups ups.status "OL"\n');
          else if (line.startsWith('LOGOUT')) tls.end('OK Goodbye\n');
        });
      });
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as { port: number }).port }),
    ),
  );
}

test('STARTTLS upgrades and verifies the certificate against the CA', {
  skip: haveOpenssl() ? false : 'openssl not installed',
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nut-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gen = (name: string) => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
        '-keyout',
        join(dir, `${name}.key`),
        '-out',
        join(dir, `${name}.pem`),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, `${name}.key`), 'utf8'),
      cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    };
  };
  const good = gen('nut.test');
  const other = gen('other.test');
  const { server, port } = await fakeUpsd(good.key, good.cert);
  t.after(() => server.close());
  const c = await NutClient.connect({
    host: '127.0.0.1',
    port,
    tls: { ca: good.cert, servername: 'nut.test' },
  });
  assert.equal(await c.getVar('ups', 'ups.status'), 'OL');
  await c.close();
  await assert.rejects(
    NutClient.connect({ host: '127.0.0.1', port, tls: { ca: other.cert, servername: 'nut.test' } }),
    {
      code: 'SOURCE_LOST',
    },
  );
  await assert.rejects(
    NutClient.connect({ host: '127.0.0.1', port, tls: { ca: good.cert, servername: 'wrong.test' } }),
    {
      code: 'SOURCE_LOST',
    },
  );
});
