/**
 * Slot hoarding and password guessing on the NUT port, against the real master process (issue 14):
 * - one address opening every connection it can holds at most its share; another address still gets in;
 * - 600 wrong passwords from one address, each answered ACCESS-DENIED and its connection closed (one try
 *   per connection), then the right password from that address is still refused (backoff), while the same
 *   user from another address logs in;
 * - the refusals leave a few log lines with counters, not a line each.
 * 127.0.0.2 is a second client address on the loopback interface.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchFleet, type RunningFleet } from '../../cli/demo/fleet-launcher.js';

const MAX_CONNECTIONS = 40;

function open(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(s));
    s.once('error', reject);
  });
}

/** A line client over one socket: every reply line in order, `null` once the connection closed. */
function lines(s: Socket): () => Promise<string | null> {
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
  return () => {
    const l = queue.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (closed) return Promise.resolve(null);
    return new Promise((resolve) => waiting.push(resolve));
  };
}

/** USERNAME, PASSWORD, LOGIN on a new connection: the replies, then whether the master closed it. */
async function tryLogin(
  port: number,
  user: string,
  password: string,
  from = '127.0.0.1',
): Promise<{ replies: Array<string | null>; closed: boolean }> {
  const s = await open(port, from);
  const next = lines(s);
  s.write(`USERNAME ${user}\nPASSWORD ${password}\nLOGIN ups\n`);
  const replies = [await next(), await next(), await next()];
  const closed = await Promise.race([
    next().then((l) => l === null),
    new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)), // a busy machine is slow to close
  ]);
  s.destroy();
  return { replies, closed };
}

describe('NUT port: slot hoarding and password guessing (real master process)', () => {
  let dir: string;
  let fleet: RunningFleet;
  let port: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-nut-logins-'));
    fleet = await launchFleet({
      dir,
      groups: [{ name: 'app', agents: ['app1'], external: true }],
      sequence: [{ groups: ['app'], deadline: '20s' }],
      timeline: 'ups.status: OL\nbattery.charge: 100\n',
      masterExtra: {
        nut: {
          listen: '127.0.0.1:0',
          maxConnections: MAX_CONNECTIONS,
          users: [{ name: 'nasmon', password: 'the-right-one', upsmon: 'primary' }],
        },
      },
    });
    const info = JSON.parse(readFileSync(join(dir, 'master', 'state', 'master.json'), 'utf8')) as {
      nut: string;
    };
    port = Number(info.nut.slice(info.nut.lastIndexOf(':') + 1));
  });
  after(async () => {
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one address cannot hold every slot: another address is still served', {
    timeout: 60_000,
  }, async () => {
    const hoard: Socket[] = [];
    try {
      const readers: Array<() => Promise<string | null>> = [];
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        const s = await open(port);
        hoard.push(s);
        readers.push(lines(s)); // listening from the start: a refused one closes at once
      }
      // each answers VER while the master keeps it; a refused one is closed without a word
      const kept = await Promise.all(
        hoard.map(async (s, i) => {
          if (!s.destroyed) s.write('VER\n');
          return (await readers[i]!()) !== null;
        }),
      );
      const held = kept.filter(Boolean).length;
      assert.ok(held > 0 && held < MAX_CONNECTIONS, `one address holds ${held} of ${MAX_CONNECTIONS} slots`);
      const other = await open(port, '127.0.0.2');
      const next = lines(other);
      other.write('VER\n');
      assert.match((await next()) ?? 'closed', /^upsfleet /, 'a client from another address was turned away');
      other.destroy();
    } finally {
      for (const s of hoard) s.destroy();
      // the next test starts from 127.0.0.1 once the master has seen every one of these go
      for (let i = 0; i < 200; i++) {
        const status = await fleet.getJson<{ nut: { connections: number } }>('/status');
        if (status.nut.connections === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  test('600 wrong passwords: each closes its connection, the right one is then refused from that address only', {
    timeout: 120_000,
  }, async () => {
    for (let i = 0; i < 600; i++) {
      const r = await tryLogin(port, 'nasmon', `guess-${i}`);
      assert.deepEqual(r.replies, ['OK', 'OK', 'ERR ACCESS-DENIED'], `attempt ${i}`);
      assert.ok(r.closed, `attempt ${i}: the connection stayed open after a failed authentication`);
    }
    const right = await tryLogin(port, 'nasmon', 'the-right-one');
    assert.deepEqual(
      right.replies,
      ['OK', 'OK', 'ERR ACCESS-DENIED'],
      'the right password got in right after 600 wrong ones',
    );
    const elsewhere = await tryLogin(port, 'nasmon', 'the-right-one', '127.0.0.2');
    assert.deepEqual(
      elsewhere.replies,
      ['OK', 'OK', 'OK'],
      'the same user from another address was locked out',
    );

    // counted in /status
    const status = await fleet.getJson<{ nut: { refused: Record<string, number> } }>('/status');
    assert.ok((status.nut.refused['login-failed'] ?? 0) >= 3, JSON.stringify(status.nut));
    assert.ok((status.nut.refused['login-backoff'] ?? 0) >= 1, JSON.stringify(status.nut));
    assert.ok((status.nut.refused['connections-per-address'] ?? 0) >= 1, JSON.stringify(status.nut));

    // a few lines with counters, not one per refusal
    const log = readFileSync(join(dir, 'logs', 'master.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; refused?: number; refusedTotal?: number });
    const refusals = log.filter((e) => /NUT (LOGIN refused|authentication)/.test(e.msg ?? ''));
    // one line per kind a minute: a handful even where this test takes minutes on a busy machine
    assert.ok(
      refusals.length >= 1 && refusals.length <= 10,
      `${refusals.length} log lines for 601 refused logins`,
    );
    assert.ok(
      refusals.every((e) => typeof e.refusedTotal === 'number'),
      'refusal lines carry a counter',
    );
  });
});
