/**
 * The TCP connect bound (agent/connect-deadline.ts) on real sockets: a listener whose accept queue is full
 * (a listening socket that never accepts, backlog 0: the kernel drops further SYNs, as for an unplugged
 * host) leaves a connect hanging until the bound destroys it with MASTER_UNREACHABLE; a connect that
 * completes is left alone, however long it then stays silent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { boundTcpConnect } from '../../../agent/connect-deadline.js';

/** A listening socket that never accepts (python3: Node's own servers always accept). */
async function neverAccepting(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(
    'python3',
    [
      '-c',
      "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()",
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout! }).once('line', resolve);
  });
  return { port: Number(line), stop: () => child.kill('SIGKILL') };
}

const opened: Socket[] = [];
after(() => {
  for (const s of opened) s.destroy();
});

function outcome(socket: Socket, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (err: Error & { code?: string }) => resolve(`error ${err.code}`));
    socket.once('connect', () => resolve('connected'));
    setTimeout(() => resolve(socket.connecting ? 'still connecting' : 'idle'), waitMs);
  });
}

test('a connect the peer never answers is destroyed at the bound; one that completed is left alone', async () => {
  const listener = await neverAccepting();
  try {
    // the first connection fills the accept queue (it completes, and then hears nothing)
    const first = boundTcpConnect(connect(listener.port, '127.0.0.1'), 300);
    opened.push(first);
    assert.equal(await outcome(first, 1_000), 'connected');
    // the next SYNs are dropped: without the bound it is still connecting after 1 s
    const unbounded = connect(listener.port, '127.0.0.1');
    opened.push(unbounded);
    assert.equal(await outcome(unbounded, 1_000), 'still connecting');
    const bounded = boundTcpConnect(connect(listener.port, '127.0.0.1'), 300);
    opened.push(bounded);
    const t = Date.now();
    assert.equal(await outcome(bounded, 3_000), 'error MASTER_UNREACHABLE');
    assert.ok(Date.now() - t < 2_000, 'destroyed at the bound, not by the kernel');
    // the completed one stayed open past its bound, though silent
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(first.destroyed, false);
  } finally {
    listener.stop();
  }
});
