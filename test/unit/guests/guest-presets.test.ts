/**
 * Guest presets without a hypervisor: the config (each preset's own errors at file:line), stop phases and
 * patterns, Proxmox's list parsing, the force deadline inside the preset's timeout, and the restart
 * record (claimed once). The real tools are exercised in test/integration/guests-*.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../../shared/clock.js';
import { parseAgentSettings } from '../../../shared/config/agent-settings.js';
import { UpsfleetError } from '../../../shared/errors.js';
import type { Guest, GuestDriver, StopAttempt } from '../../../shared/guests/guest-driver.js';
import { addToRecord, claimRecord, listRecords } from '../../../shared/guests/guest-record.js';
import { resolveGuestPreset } from '../../../shared/guests/guest-spec.js';
import { parseList } from '../../../shared/guests/proxmox-driver.js';
import { restartFromRecord } from '../../../shared/guests/restart-guests.js';
import { matches, phases, stopGuests } from '../../../shared/guests/stop-guests.js';
import { silentLogger } from '../../../shared/logger.js';

const HEAD = `agent: { id: a1, group: g, token: "0123456789abcdef" }\nmaster: { urls: ["ws://127.0.0.1:1"] }\n`;

function problems(yaml: string): string[] {
  try {
    parseAgentSettings(HEAD + yaml, 'agent.yaml');
  } catch (err) {
    assert.ok(err instanceof UpsfleetError);
    return (err.details.problems as Array<{ line: number; path: string; message: string }>).map(
      (p) => `${p.line} ${p.path} ${p.message}`,
    );
  }
  return [];
}

test('presets are validated by their own schema, with the line of each mistake', () => {
  assert.deepEqual(problems('hooks:\n  - { preset: libvrt }\n'), [
    '4 /hooks/0/preset must be one of "libvirt", "docker", "podman", "proxmox"',
  ]);
  assert.deepEqual(problems('hooks:\n  - run: "true"\n  - preset: podman\n    uri: x\n'), [
    '6 /hooks/1/uri unknown setting "uri"',
  ]);
  assert.deepEqual(problems('hooks:\n  - { preset: proxmox, kinds: [vz] }\n').length, 1);
  assert.deepEqual(problems('hooks:\n  - preset: libvirt\n    timeout: 1m\n    destroyAfter: 1m\n'), [
    "6 /hooks/0/destroyAfter must be less than the preset's timeout (60s): a guest that does not stop by itself is forced within the timeout",
  ]);
  assert.equal(
    problems('hooks:\n  - { preset: docker }\n  - { preset: docker }\n')[0]?.includes('same guests'),
    true,
  );
  // a command hook is what it always was
  assert.deepEqual(problems('hooks:\n  - { run: "true", drillSafe: true }\n'), []);
});

test('a preset resolves with its defaults and the example of the issue', () => {
  const s = parseAgentSettings(
    `${HEAD}hooks:\n  - { name: stop vms, preset: libvirt, uri: "qemu:///system", timeout: 3m, destroyAfter: 2m }\n  - { preset: podman, user: alice, timeout: 1m }\n  - { preset: docker }\n  - { preset: proxmox, kinds: [qm, pct], restartAfterPower: true }\n`,
    'agent.yaml',
  );
  assert.deepEqual(
    s.hooks.map((h) => [h.name, h.timeoutMs, h.drillSafe, h.guests?.forceAfterMs, h.guests?.restart]),
    [
      ['stop vms', 180_000, true, 120_000, 'no'],
      ['stop podman alice', 60_000, true, 45_000, 'no'],
      ['stop docker', 120_000, true, 105_000, 'no'],
      ['stop proxmox pct+qm', 120_000, true, 105_000, 'on-line'],
    ],
  );
  assert.deepEqual(s.hooks[1]?.guests?.target, { preset: 'podman', command: 'podman', user: 'alice' });
});

test('stop phases follow the order entries, then the rest together; patterns match whole names', () => {
  const g = (name: string): Guest => ({ id: name, name, kind: 'vm' });
  const all = ['web1', 'db1', 'cache', 'web2', 'db2'].map(g);
  assert.deepEqual(
    phases(all, [['db*'], ['cache', 'nothing']]).map((p) => p.map((x) => x.name)),
    [['db1', 'db2'], ['cache'], ['web1', 'web2']],
  );
  assert.equal(matches('web?', 'web1'), true);
  assert.equal(matches('web', 'web1'), false);
  assert.equal(matches('a.b', 'axb'), false, 'a dot is a dot');
});

test("Proxmox lists: qm's and pct's running guests only", () => {
  const qm = `      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID\n       100 web                  running    2048              32.00 1234\n       101 old                  stopped    1024              8.00 0\n`;
  const pct = `VMID       Status     Lock         Name\n200        running                 ct1\n201        running    backup       ct2\n202        stopped                 ct3\n`;
  assert.deepEqual(parseList('qm', qm), [{ id: '100', name: 'web', kind: 'qm' }]);
  assert.deepEqual(parseList('pct', pct), [
    { id: '200', name: 'ct1', kind: 'pct' },
    { id: '201', name: 'ct2', kind: 'pct' },
  ]);
});

/** A driver whose guests stop after a set time (never: Infinity), on a manual clock. */
class FakeDriver implements GuestDriver {
  readonly calls: string[] = [];
  constructor(
    private readonly clock: ManualClock,
    private readonly guests: Guest[],
    private readonly stopsAfter: Record<string, number>,
  ) {}
  async list(): Promise<Guest[]> {
    return this.guests;
  }
  shutdown(g: Guest, graceMs: number): Promise<StopAttempt> {
    this.calls.push(`shutdown ${g.name} grace ${graceMs}`);
    const t = this.stopsAfter[g.name] ?? 0;
    return new Promise((resolve) =>
      this.clock.setTimer(Math.min(t, graceMs), () => resolve({ off: t <= graceMs })),
    );
  }
  async force(g: Guest): Promise<StopAttempt> {
    this.calls.push(`force ${g.name}`);
    return { off: true };
  }
  async start(g: Guest): Promise<{ ok: boolean }> {
    this.calls.push(`start ${g.name}`);
    return { ok: true };
  }
}

test('a guest that does not stop is forced at forceAfter, never later than the timeout allows', async () => {
  const clock = new ManualClock();
  const guests = ['a', 'b'].map((name) => ({ id: name, name, kind: 'vm' }));
  const driver = new FakeDriver(clock, guests, { a: 1_000, b: Number.POSITIVE_INFINITY });
  const spec = resolveGuestPreset({ preset: 'libvirt', timeout: '60s', forceAfter: '55s', order: ['a'] }, '');
  const run = stopGuests(spec, { logger: silentLogger(), drill: false, timeoutMs: 60_000, clock, driver });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(1_000);
  }
  const result = await run;
  // 55 s would end past the 60 s budget less its reserve (6 s): a gets 54 s, b (asked at t=1 s) 53 s
  assert.deepEqual(driver.calls, ['shutdown a grace 54000', 'shutdown b grace 53000', 'force b']);
  assert.deepEqual(
    result.guests.filter((g) => g.state !== 'stopping').map((g) => [g.name, g.state, g.durationMs]),
    [
      ['a', 'stopped', 1_000],
      ['b', 'forced', 53_000],
    ],
  );
});

test('a record is claimed before its guests start: it never starts them twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-guests-'));
  const clock = new ManualClock();
  const base = {
    key: 'libvirt test',
    target: { preset: 'libvirt' as const, uri: 'test:///default', command: 'virsh' },
    restart: 'on-line' as const,
    sudo: false,
  };
  addToRecord(dir, base, [{ id: 'a', name: 'a', kind: 'vm' }], clock.now());
  addToRecord(
    dir,
    base,
    [
      { id: 'a', name: 'a', kind: 'vm' },
      { id: 'b', name: 'b', kind: 'vm' },
    ],
    clock.now(),
  );
  const [entry] = listRecords(dir);
  assert.deepEqual(
    entry?.record?.guests.map((g) => g.id),
    ['a', 'b'],
    'merged, each guest once',
  );
  const driver = new FakeDriver(clock, [{ id: 'b', name: 'b', kind: 'vm' }], {});
  const result = await restartFromRecord(entry!.path, {
    logger: silentLogger(),
    clock,
    driver: () => driver,
  });
  assert.deepEqual(
    result?.guests.map((g) => [g.name, g.state]),
    [
      ['a', 'started'],
      ['b', 'already-running'],
    ],
  );
  assert.deepEqual(driver.calls, ['start a']);
  assert.equal(
    await restartFromRecord(entry!.path, { logger: silentLogger(), clock, driver: () => driver }),
    null,
  );
  assert.equal(claimRecord(entry!.path), null);
  assert.deepEqual(readdirSync(join(dir, 'guests')), []);
  assert.equal(existsSync(entry!.path), false);
});
