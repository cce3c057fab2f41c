/**
 * sd-notify: silent without NOTIFY_SOCKET; READY/WATCHDOG/STOPPING through systemd-notify. The end-to-end case
 * receives the real datagram on a unix socket (python3 binds it: Node cannot), when both programs exist.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { SdNotify } from '../../../shared/systemd/sd-notify.js';

const has = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0;

describe('sd-notify', () => {
  it('is silent when NOTIFY_SOCKET is absent', async () => {
    const calls: string[][] = [];
    const sd = new SdNotify({ env: {}, run: async (_f, args) => void calls.push(args) });
    await sd.ready('x');
    await sd.stopping();
    assert.equal(sd.enabled, false);
    assert.deepEqual(calls, []);
  });

  it('sends READY with a status, then WATCHDOG at half the interval, then STOPPING', async () => {
    const calls: string[][] = [];
    const sd = new SdNotify({
      env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '60000' },
      pid: 42,
      run: async (_f, args) => void calls.push(args),
    });
    assert.equal(sd.watchdogIntervalMs, 30);
    await sd.ready('serving');
    await new Promise((r) => setTimeout(r, 100));
    await sd.stopping();
    const n = calls.length;
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(calls[0], ['--pid=42', 'READY=1', 'STATUS=serving']);
    assert.ok(calls.slice(1, -1).length >= 1 && calls.slice(1, -1).every((c) => c[1] === 'WATCHDOG=1'));
    assert.deepEqual(calls.at(-1), ['--pid=42', 'STOPPING=1']);
    assert.equal(calls.length, n, 'no watchdog after STOPPING');
  });

  it('ignores a watchdog meant for another pid, and stops trying when systemd-notify is missing', async () => {
    assert.equal(
      new SdNotify({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '7' }, pid: 8 })
        .watchdogIntervalMs,
      null,
    );
    const sd = new SdNotify({ env: { NOTIFY_SOCKET: '/x' }, program: '/nonexistent/systemd-notify' });
    assert.equal(await sd.send(['READY=1']), false);
    assert.equal(await sd.send(['READY=1']), false);
  });

  it('delivers READY=1 to a real notify socket through systemd-notify', async (t) => {
    if (!has('systemd-notify') || !has('python3')) {
      t.skip('systemd-notify or python3 missing: the end-to-end datagram check is skipped');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-sd-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'notify.sock');
    const out = join(dir, 'got');
    // Behaves as systemd's manager does: systemd-notify (since systemd 246) follows its message with BARRIER=1
    // carrying a pipe's write end and exits non-zero unless the receiver takes that datagram and closes the fd.
    // A receiver that read one datagram and exited raced the barrier (ECONNREFUSED on a busy machine).
    const py = spawn('python3', [
      '-c',
      `import array,os,socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(10)
got=[]
while True:
  m,anc,_,_=s.recvmsg(4096, socket.CMSG_SPACE(8*4))
  for lvl,typ,data in anc:
    if lvl==socket.SOL_SOCKET and typ==socket.SCM_RIGHTS:
      fds=array.array('i'); fds.frombytes(data[:len(data)-len(data)%4])
      for f in fds: os.close(f)
  got.append(m)
  if m==b'BARRIER=1': break
open(sys.argv[2],'wb').write(b'\\n---\\n'.join(got))`,
      sock,
      out,
    ]);
    const exited = new Promise((r) => py.once('exit', r));
    // python's start-up on a busy machine can take seconds: wait for its socket, not a fixed time
    for (let i = 0; i < 500 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(sock), 'the python receiver did not bind its socket within 10 s');
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void warnings.push(s) });
    const sd = new SdNotify({ env: { ...process.env, NOTIFY_SOCKET: sock }, logger });
    assert.equal(
      await sd.send(['READY=1', 'STATUS=test']),
      true,
      `systemd-notify failed: ${warnings.join('')}`,
    );
    await exited;
    const [state, barrier, ...rest] = readFileSync(out, 'utf8').split('\n---\n');
    assert.match(state ?? '', /READY=1/);
    assert.match(state ?? '', /STATUS=test/);
    assert.equal(barrier, 'BARRIER=1', 'systemd-notify waits for the manager to take its message');
    assert.deepEqual(rest, []);
  });
});

describe('sd-notify while systemd stops the unit', () => {
  it('a STOPPING=1 notifier killed by a signal is expected (debug), any other notifier failure still warns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-sd-killed-'));
    try {
      // stands in for systemd-notify as systemd's control-group kill meets it: it dies of SIGTERM
      const killed = join(dir, 'killed-notify');
      writeFileSync(killed, '#!/bin/sh\nkill -TERM $$\nsleep 5\n', { mode: 0o755 });
      const failing = join(dir, 'failing-notify');
      writeFileSync(failing, '#!/bin/sh\necho "Failed to notify init system" >&2\nexit 1\n', { mode: 0o755 });
      const lines: Array<{ level: number; msg: string }> = [];
      const logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
      const env = { NOTIFY_SOCKET: '/run/nowhere', PATH: process.env.PATH ?? '' };
      await new SdNotify({ env, logger, program: killed }).stopping();
      assert.deepEqual(
        lines.map((l) => [l.level, l.msg]),
        [[20, 'STOPPING=1 not sent: the notifier was signalled (the unit is stopping)']],
      );
      lines.length = 0;
      assert.equal(await new SdNotify({ env, logger, program: failing }).send(['STOPPING=1']), false);
      assert.equal(lines[0]?.level, 40);
      assert.equal(lines[0]?.msg, 'systemd notification failed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
