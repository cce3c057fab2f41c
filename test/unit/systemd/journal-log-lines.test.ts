/**
 * What the daemons write on stdout for journald: each pino line carries its syslog priority as `<N>`, but only
 * when stdout is the very stream JOURNAL_STREAM names (a pipe inherited by a child stays plain JSON); a
 * terminal gets pino-pretty's text. Real child processes, exact bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const LOGGER = fileURLToPath(new URL('../../../shared/logger.ts', import.meta.url));
const SCRIPT = `
import { createLogger } from ${JSON.stringify(LOGGER)};
const log = createLogger({ name: 't', level: 'trace', sync: true });
for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level]({ token: 'secret-x' }, level + ' line');
`;

const dir = mkdtempSync(join(tmpdir(), 'upsfleet-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the script with stdout to a file (or a pipe) and returns what it wrote. */
function run(env: Record<string, string>, toFile: string | null): string {
  const fd = toFile === null ? 'pipe' : openSync(toFile, 'w');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', fd, 'pipe'],
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  if (typeof fd === 'number') {
    closeSync(fd);
    return readFileSync(toFile as string, 'utf8');
  }
  return r.stdout;
}

function devIno(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.dev}:${st.ino}`;
}

describe('log lines on stdout', () => {
  it('to the journal stream: <N> then the JSON line, N from the level (fatal 2 ... trace 7)', () => {
    const file = join(dir, 'journal.out');
    // create it first: JOURNAL_STREAM names its device and inode, as systemd names the journal socket's
    closeSync(openSync(file, 'w'));
    const out = run({ JOURNAL_STREAM: devIno(file) }, file);
    const lines = out.split('\n').filter(Boolean);
    assert.deepEqual(
      lines.map((l) => /^<(\d)>\{"level":(\d+),/.exec(l)?.slice(1, 3)),
      [
        ['7', '10'],
        ['7', '20'],
        ['6', '30'],
        ['4', '40'],
        ['3', '50'],
        ['2', '60'],
      ],
      out,
    );
    for (const l of lines) {
      const json = JSON.parse(l.slice(3)) as { msg: string; token: string; name: string };
      assert.equal(json.token, '[redacted]');
      assert.equal(json.name, 't');
    }
    assert.ok(out.endsWith('"msg":"fatal line"}\n'), out);
  });

  it('plain JSON lines when JOURNAL_STREAM names another stream (a child writing into a pipe)', () => {
    const other = join(dir, 'other.out');
    closeSync(openSync(other, 'w'));
    const file = join(dir, 'plain.out');
    const out = run({ JOURNAL_STREAM: devIno(other) }, file);
    for (const l of out.split('\n').filter(Boolean)) assert.match(l, /^\{"level":\d+,/);
    assert.equal(run({}, null).split('\n').filter(Boolean).length, 6);
    assert.match(run({}, null), /^\{"level":10,/);
  });

  it('UPSFLEET_LOG_FORMAT=pretty: pino-pretty text, level names, no JSON, secrets still redacted', () => {
    const out = run({ UPSFLEET_LOG_FORMAT: 'pretty' }, null);
    assert.doesNotMatch(out, /^\{/m);
    assert.match(out, /WARN.*: warn line/);
    assert.match(out, /FATAL.*: fatal line/);
    assert.match(out, /token: "\[redacted\]"/);
    assert.doesNotMatch(out, /secret-x/);
  });

  it('on a terminal (a pty from script(1)) pretty is the default', (t) => {
    if (spawnSync('sh', ['-c', 'command -v script']).status !== 0) {
      t.skip('script(1) not installed (Debian package util-linux): no pty to test with');
      return;
    }
    const cmd = `${process.execPath} --import tsx --input-type=module -e ${shellQuote(SCRIPT)}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', TERM: 'dumb' },
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /WARN.*warn line/);
    assert.doesNotMatch(r.stdout, /\{"level"/);
  });
});

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
