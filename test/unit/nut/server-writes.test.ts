/**
 * Each NUT reply leaves in one write (issue 14): a LIST reply is one buffer, not one write per line (a
 * write per line is a TCP segment each, and a client with delayed ACKs waits on every one of them).
 * Counted on the server's own socket to a real client on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { type Harness, startHarness } from './helpers.js';

let h: Harness;
let writes: string[] = [];
const realWrite = Socket.prototype.write;

before(async () => {
  h = await startHarness();
  // only the server's side of connections to the harness port is counted
  Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (this.localPort === h.port) writes.push(String(args[0]));
    return realWrite.apply(this, args);
  } as Socket['write'];
});
after(async () => {
  Socket.prototype.write = realWrite;
  await h.close();
});

test('LIST VAR, LIST CMD and LIST RW replies are each written once', async () => {
  const c = await h.client();
  for (const cmd of ['LIST VAR ups', 'LIST CMD ups', 'LIST RW ups']) {
    writes = [];
    const lines = await c.list(cmd);
    assert.ok(lines.length > 3, `${cmd}: ${lines.join(' | ')}`);
    assert.equal(writes.length, 1, `${cmd} went out in ${writes.length} writes`);
    assert.equal(writes[0], `${lines.join('\n')}\n`);
  }
});

test('single-line replies are one write each', async () => {
  const c = await h.client();
  writes = [];
  assert.equal(await c.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL CHRG"');
  assert.deepEqual(writes, ['VAR ups ups.status "OL CHRG"\n']);
});
