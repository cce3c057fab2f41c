/**
 * The delaying TCP relay the slow-link tests use (test/support/delay-relay.ts): a round trip through it
 * takes twice its delay, every byte arrives in order, the end of a direction follows the data before it,
 * and the script form prints its port and relays the same way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startDelayRelay } from '../../support/delay-relay.js';

const RELAY_SCRIPT = fileURLToPath(new URL('../../support/delay-relay.ts', import.meta.url));

/** An echo server that also says "bye" and ends its side once the client ended its own. */
function echoServer(): Promise<Server> {
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('bye'));
    s.on('error', () => {});
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `text`, resolves with the time until `expect` came back in full. */
async function roundTrip(s: Socket, text: string, expect = text): Promise<number> {
  const t0 = Date.now();
  let got = '';
  await new Promise<void>((resolve) => {
    const on = (d: Buffer) => {
      got += d.toString();
      if (got.length >= expect.length) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
    s.write(text);
  });
  assert.equal(got, expect);
  return Date.now() - t0;
}

describe('delay relay', () => {
  let echo: Server;
  let echoPort = 0;
  before(async () => {
    echo = await echoServer();
    echoPort = (echo.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => echo.close(() => r())));

  it('delays each direction by its delay, keeps the order of many chunks, and carries the end', async () => {
    const relay = await startDelayRelay({ to: { host: '127.0.0.1', port: echoPort }, delayMs: 300 });
    try {
      const s = await open(relay.port);
      const rtt = await roundTrip(s, 'ping');
      assert.ok(rtt >= 590 && rtt < 1500, `one round trip took ${rtt} ms (2 × 300 expected)`);
      // 200 chunks written 1 ms apart come back whole and in order, still one delay each way
      const chunks = Array.from({ length: 200 }, (_, i) => `<${i}>`);
      let got = '';
      const whole = chunks.join('');
      const done = new Promise<void>((resolve) => {
        s.on('data', (d) => {
          got += d.toString();
          if (got.length >= whole.length) resolve();
        });
      });
      const t0 = Date.now();
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 1));
      }
      await done;
      assert.equal(got, whole);
      assert.ok(Date.now() - t0 >= 600, 'the last chunk came back at least two delays after it left');
      // the end of our side reaches the server after the delay; its "bye" and end come back after another
      const ended = new Promise<number>((resolve) => s.once('end', () => resolve(Date.now())));
      const tEnd = Date.now();
      let tail = '';
      s.on('data', (d) => {
        tail += d.toString();
      });
      s.end();
      const endAt = await ended;
      assert.equal(tail, 'bye');
      assert.ok(endAt - tEnd >= 590, `end round trip ${endAt - tEnd} ms`);
      assert.equal(relay.connections, 1);
    } finally {
      await relay.stop();
    }
  });

  it('runs as a script: prints {"port":N} once listening and relays with its delay', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        RELAY_SCRIPT,
        '--listen',
        '127.0.0.1:0',
        '--to',
        `127.0.0.1:${echoPort}`,
        '--delay-ms',
        '250',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
      });
      const { port } = JSON.parse(line) as { port: number };
      assert.ok(port > 0);
      const s = await open(port);
      const rtt = await roundTrip(s, 'hello');
      assert.ok(rtt >= 490, `round trip ${rtt} ms through the script (2 × 250 expected)`);
      s.destroy();
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
