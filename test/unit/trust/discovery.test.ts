/**
 * Discovery over mDNS in a private network namespace made by the test (`unshare -rn`: only lo, with
 * multicast on, so nothing reaches a real network): an agent with `master: { auto: true, fingerprint }`
 * ignores a fake master advertising another certificate's hint, refuses (by the TLS pin) a fake that
 * copies the real hint, logs both, and connects to the real master.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

const NS_SETUP = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';

function canUnshare(): string | null {
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', NS_SETUP], { encoding: 'utf8' });
  if (r.error) return `unshare not available (${r.error.message})`;
  if (r.status !== 0) return `cannot make a network namespace: ${r.stderr.trim()}`;
  return null;
}

const why = canUnshare();

it('an agent with master: auto finds the real master, ignores and logs fake masters with another certificate', {
  skip: why ?? false,
}, () => {
  const r = spawnSync(
    'unshare',
    [
      '-rn',
      'sh',
      '-c',
      `${NS_SETUP} && exec "${process.execPath}" --import tsx test/support/discovery-scenario.ts`,
    ],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    connected: boolean;
    url: string;
    realPort: number;
    ignoredByHint: number[];
    refusedByPin: string[];
    fakePorts: Record<string, number>;
    fakeHits: string[];
  };
  assert.equal(out.connected, true, 'the agent connected to the real master');
  assert.equal(new URL(out.url).port, String(out.realPort));
  assert.ok(
    out.ignoredByHint.includes(out.fakePorts['own-hint']!),
    'the fake advertising another hint was ignored and logged',
  );
  assert.ok(
    out.refusedByPin.some((u) => u.endsWith(`:${out.fakePorts['copied-hint']}/ws`)),
    'the fake copying the hint was refused by the pin and logged',
  );
  assert.deepEqual(out.fakeHits, [], 'no WebSocket (so no hello, no token) ever reached a fake');
});
