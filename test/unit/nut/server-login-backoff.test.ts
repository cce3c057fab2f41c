/**
 * Failed NUT logins (issue 14), on the in-process server with a manual clock: one failed authentication
 * closes its connection; past the free failures, that user from that address is refused (right password
 * or not) until its backoff ends, attempts during the backoff do not lengthen it, and other users from the
 * same address are not held back. A user that may not LOGIN is refused without closing anything.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import {
  LOGIN_FIRST_BACKOFF_MS,
  LOGIN_FREE_FAILURES,
  LOGIN_MAX_BACKOFF_MS,
} from '../../../master/nut/server/login-backoff.js';
import { type Harness, startHarness } from './helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

/** USERNAME, PASSWORD, LOGIN on a new connection: the LOGIN reply and whether the server then closed it. */
async function attempt(user: string, password: string): Promise<{ reply: string | null; closed: boolean }> {
  const c = await h.client();
  assert.equal(await c.cmd(`USERNAME ${user}`), 'OK');
  assert.equal(await c.cmd(`PASSWORD ${password}`), 'OK');
  const reply = await c.cmd('LOGIN ups');
  const closed = await Promise.race([
    c.closedPromise.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 500)),
  ]);
  c.destroy();
  return { reply, closed };
}

test('a wrong password closes the connection; the right one on a fresh connection gets in', async () => {
  assert.deepEqual(await attempt('web', 'nope'), { reply: 'ERR ACCESS-DENIED', closed: true });
  assert.deepEqual(await attempt('web', 'webpass'), { reply: 'OK', closed: false });
});

test('an unknown user fails the same way as a wrong password', async () => {
  assert.deepEqual(await attempt('nobody', 'x'), { reply: 'ERR ACCESS-DENIED', closed: true });
});

test('a user without upsmon rights is refused LOGIN but keeps its connection (not a failed authentication)', async () => {
  assert.deepEqual(await attempt('admin', 'adminpass'), { reply: 'ERR ACCESS-DENIED', closed: false });
});

test('past the free failures the pair waits out a doubling backoff; retries during it do not lengthen it', async () => {
  for (let i = 0; i < LOGIN_FREE_FAILURES; i++) await attempt('web', `bad-${i}`);
  assert.equal((await attempt('web', 'bad-again')).reply, 'ERR ACCESS-DENIED'); // first backoff now: 1 s
  assert.deepEqual(await attempt('web', 'webpass'), { reply: 'ERR ACCESS-DENIED', closed: true });
  // another user from the same address is not held back
  assert.equal((await attempt('mon', 'monpass')).reply, 'OK');
  h.clock.advance(LOGIN_FIRST_BACKOFF_MS / 2);
  assert.equal((await attempt('web', 'webpass')).reply, 'ERR ACCESS-DENIED', 'refused retries do not count');
  h.clock.advance(LOGIN_FIRST_BACKOFF_MS / 2);
  assert.equal((await attempt('web', 'webpass')).reply, 'OK');
});

test('a long run of failures is capped at the maximum backoff', async () => {
  for (let i = 0; i < 40; i++) {
    await attempt('web', `bad-${i}`);
    h.clock.advance(LOGIN_MAX_BACKOFF_MS); // every guess is a real one: the backoff has ended each time
  }
  await attempt('web', 'one-more');
  h.clock.advance(LOGIN_MAX_BACKOFF_MS - 1);
  assert.equal((await attempt('web', 'webpass')).reply, 'ERR ACCESS-DENIED');
  h.clock.advance(1);
  assert.equal((await attempt('web', 'webpass')).reply, 'OK');
});
