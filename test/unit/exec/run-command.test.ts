import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandSucceeded, runCommand } from '../../../shared/exec/run-command.js';

/** Running, not a zombie (a container's PID 1 may never reap the orphan we killed). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

test('a string runs through /bin/sh -c and its output and exit code come back', async () => {
  const r = await runCommand('echo out; echo err >&2; exit 3');
  assert.equal(r.exitCode, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.timedOut, false);
  assert.equal(commandSucceeded(r), false);
});

test('an argv runs directly, without a shell, with the extra env', async () => {
  const r = await runCommand(['sh', '-c', 'printf "%s|%s" "$1" "$FOO"', 'x', '$HOME; echo no'], {
    env: { FOO: 'bar' },
  });
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, '$HOME; echo no|bar');
});

test('a command that cannot start reports spawnError, never throws', async () => {
  const r = await runCommand(['/nonexistent/upsfleet-no-such-binary']);
  assert.equal(r.exitCode, null);
  assert.match(r.spawnError ?? '', /ENOENT/);
});

test('output is bounded', async () => {
  const r = await runCommand('head -c 100000 /dev/zero | tr "\\0" a', { maxOutputBytes: 1000 });
  assert.equal(r.stdout.length, 1000);
  assert.equal(r.outputTruncated, true);
});

test('a timeout kills the whole process group, grandchildren included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-run-'));
  const pidFile = join(dir, 'bg.pid');
  const started = Date.now();
  const r = await runCommand(`sleep 30 & echo $! > ${pidFile}; sleep 30`, {
    timeoutMs: 300,
    killGraceMs: 300,
  });
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, null);
  assert.ok(r.signal === 'SIGTERM' || r.signal === 'SIGKILL', `signal ${r.signal}`);
  assert.ok(Date.now() - started < 2_000, 'returned promptly');
  const bgPid = Number(readFileSync(pidFile, 'utf8').trim());
  // give the kernel a moment to reap the background sleep (it is reparented to init)
  for (let i = 0; i < 20 && alive(bgPid); i++) await new Promise((res) => setTimeout(res, 25));
  assert.equal(alive(bgPid), false, 'background sleep was killed');
});

test('a command that leaves a background child holding its pipes still returns on exit', async () => {
  const started = Date.now();
  const r = await runCommand('sleep 0.9 & echo done', { timeoutMs: 900 });
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'done\n');
  assert.ok(Date.now() - started < 800, 'did not wait for the background child');
});
