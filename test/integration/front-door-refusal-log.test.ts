/**
 * A flood of refused connections costs counters, not log lines (issue 14): against the real master
 * process (TLS main port, connectionsPerAddress 2), 2,000 connections from 127.0.0.1 over the limit in a
 * few seconds write at most a handful of warn lines, and /status counts every one of them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchFleet, type RunningFleet } from '../../cli/demo/fleet-launcher.js';

const FLOOD = 2_000;
const AT_ONCE = 100;

function logLines(fleet: RunningFleet): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of readFileSync(join(fleet.dir, 'logs', 'master.log'), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line being written as we read: not counted
    }
  }
  return out;
}

/** Connects; resolves 'closed' when the master ends the connection within `ms`, 'open' otherwise. */
function attempt(port: number, keep: Socket[], ms = 5_000): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    keep.push(s);
    s.on('error', () => {});
    const t = setTimeout(() => resolve('open'), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve('closed');
    });
  });
}

describe('main port refusal log (real master process)', () => {
  let dir: string;
  let fleet: RunningFleet;
  const held: Socket[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-refusal-log-'));
    fleet = await launchFleet({
      dir,
      groups: [{ name: 'app', agents: ['app1'], external: true }],
      sequence: [{ groups: ['app'], deadline: '20s' }],
      timeline: 'ups.status: OL\nbattery.charge: 100\n',
      masterExtra: {
        master: {
          id: 'master',
          listen: '127.0.0.1:0',
          stateDir: 'state',
          pingInterval: '2s',
          mdns: false,
          limits: { connectionsPerAddress: 2 },
        },
      },
    });
  });
  after(async () => {
    for (const s of held) s.destroy();
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`${FLOOD} refused connections in a few seconds: a handful of lines, all counted`, {
    timeout: 60_000,
  }, async () => {
    const port = Number(new URL(fleet.httpUrl).port);
    // the address's two slots, held (idle: the master waits up to 10 s for their first byte)
    assert.equal(await attempt(port, held, 300), 'open');
    assert.equal(await attempt(port, held, 300), 'open');
    const started = Date.now();
    let closed = 0;
    for (let sent = 0; sent < FLOOD; sent += AT_ONCE) {
      const batch: Socket[] = [];
      const outcomes = await Promise.all(Array.from({ length: AT_ONCE }, () => attempt(port, batch)));
      closed += outcomes.filter((o) => o === 'closed').length;
      for (const s of batch) s.destroy();
    }
    const seconds = (Date.now() - started) / 1000;
    assert.equal(closed, FLOOD, 'every connection over the limit was refused');
    assert.ok(seconds < 10, `the flood took ${seconds} s`);

    const lines = logLines(fleet).filter((l) => l.refusal === 'per-address-connections');
    assert.ok(lines.length >= 1, 'the refusal is logged');
    assert.ok(lines.length <= 3, `${lines.length} lines for ${FLOOD} refusals`);
    assert.equal(lines[0]!.code, 'RATE_LIMITED');
    // all warn lines of the flood, whatever their kind: still a handful
    const warns = logLines(fleet).filter(
      (l) => (l.level as number) >= 40 && (l.time as string) >= new Date(started).toISOString(),
    );
    assert.ok(warns.length <= 5, `${warns.length} warn lines during the flood`);

    for (const s of held.splice(0)) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const status = await fleet.getJson<{ main: { refused: Record<string, number> } }>('/status');
    assert.ok(
      (status.main.refused['per-address-connections'] ?? 0) >= FLOOD,
      `counted: ${JSON.stringify(status.main.refused)}`,
    );
  });
});
