/**
 * offeredAlpn on real ClientHellos: each is captured from Node's own TLS client connecting to a plain TCP
 * server on 127.0.0.1 that keeps the first record (the handshake then fails, which is fine). Then the
 * parser's robustness: every prefix, trailing bytes, the hello re-split over records, random mutations.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { offeredAlpn } from '../../../master/servers/client-hello-alpn.js';
import { captureHello } from '../../support/client-hello.js';

/** A handshake record around `payload`. */
function record(payload: Buffer, contentType = 0x16): Buffer {
  const header = Buffer.from([contentType, 0x03, 0x01, 0, 0]);
  header.writeUInt16BE(payload.length, 3);
  return Buffer.concat([header, payload]);
}

/** xorshift32: a small deterministic PRNG, so a failing mutation can be replayed. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function assertNullOrNames(result: unknown, what: string): void {
  if (result === null) return;
  assert.ok(Array.isArray(result), what);
  for (const name of result) assert.equal(typeof name, 'string', what);
}

describe('offeredAlpn on real ClientHellos', () => {
  let agent: Buffer = Buffer.alloc(0);
  let plain: Buffer = Buffer.alloc(0);
  let browser: Buffer = Buffer.alloc(0);
  before(async () => {
    agent = await captureHello(['upsfleet-agent', 'http/1.1']);
    plain = await captureHello();
    browser = await captureHello(['h2', 'http/1.1']);
  });

  it('reads the protocols each client offers, in order', () => {
    assert.deepEqual(offeredAlpn(agent), ['upsfleet-agent', 'http/1.1']);
    assert.deepEqual(offeredAlpn(plain), []);
    assert.deepEqual(offeredAlpn(browser), ['h2', 'http/1.1']);
  });

  it('gives null for every prefix of a hello', () => {
    for (const hello of [agent, plain, browser]) {
      for (let n = 0; n < hello.length; n++) {
        assert.equal(offeredAlpn(hello.subarray(0, n)), null, `prefix of ${n} of ${hello.length} bytes`);
      }
    }
  });

  it('ignores bytes after the hello', () => {
    const more = Buffer.concat([
      agent,
      record(Buffer.from([0x10, 0, 0, 0])),
      Buffer.from('GET / HTTP/1.1\r\n'),
    ]);
    assert.deepEqual(offeredAlpn(more), ['upsfleet-agent', 'http/1.1']);
  });

  it('reassembles a hello split over handshake records, and only when they are all there', () => {
    const payload = agent.subarray(5);
    for (const at of [1, 3, 4, 40, payload.length - 1]) {
      const split = Buffer.concat([record(payload.subarray(0, at)), record(payload.subarray(at))]);
      assert.deepEqual(offeredAlpn(split), ['upsfleet-agent', 'http/1.1'], `split at ${at}`);
      assert.equal(
        offeredAlpn(split.subarray(0, split.length - 1)),
        null,
        `second record cut, split at ${at}`,
      );
      assert.equal(offeredAlpn(record(payload.subarray(0, at))), null, `first record alone, split at ${at}`);
      const wrongType = Buffer.concat([record(payload.subarray(0, at)), record(payload.subarray(at), 0x17)]);
      assert.equal(offeredAlpn(wrongType), null, `second record not a handshake, split at ${at}`);
    }
    const three = Buffer.concat([
      record(payload.subarray(0, 2)),
      record(payload.subarray(2, 100)),
      record(payload.subarray(100)),
    ]);
    assert.deepEqual(offeredAlpn(three), ['upsfleet-agent', 'http/1.1']);
  });

  it('gives null for a record that is not a handshake, or a handshake that is not a ClientHello', () => {
    const wrongRecord = Buffer.from(agent);
    wrongRecord[0] = 0x17;
    assert.equal(offeredAlpn(wrongRecord), null);
    for (const type of [0x00, 0x02, 0x0b, 0x10]) {
      const wrongHandshake = Buffer.from(agent);
      wrongHandshake[5] = type;
      assert.equal(offeredAlpn(wrongHandshake), null, `handshake type ${type}`);
    }
  });

  it('never throws on random mutations of a hello', () => {
    const next = xorshift(0x5eed1234);
    const sources = [agent, plain, browser];
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const hello = Buffer.from(sources[i % sources.length]!);
      const flips = 1 + (next() % 4);
      for (let f = 0; f < flips; f++) {
        const at = next() % hello.length;
        hello[at] = hello[at]! ^ (1 + (next() % 255));
      }
      const result = offeredAlpn(hello);
      assertNullOrNames(result, `mutation ${i}`);
      if (result !== null) parsed++;
    }
    assert.ok(parsed > 0, 'some mutations (in the random or the cipher list) still parse');
  });
});
