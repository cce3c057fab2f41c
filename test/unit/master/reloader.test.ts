/**
 * ConfigReloader on real config files, a real TokenStore and a real pino logger: what a SIGHUP swaps in,
 * what it logs, and that a broken file changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { addToken, TokenStore } from '../../../master/auth/token-store.js';
import type { NotifySettings } from '../../../master/notify/master-notifier.js';
import { NutUsers } from '../../../master/nut/server/nut-users.js';
import { ConfigReloader, type ReloadResult } from '../../../master/reload/reloader.js';
import { generateToken, hashToken } from '../../../shared/auth/token.js';
import { loadMasterSettings } from '../../../shared/config/master-settings.js';
import type { NutUserT } from '../../../shared/config/nut-server-schema.js';
import { createLogger, type Logger } from '../../../shared/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'upsfleet-reloader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ADMIN = hashToken(generateToken());
const ONCALL = hashToken(generateToken());

interface Edits {
  level?: string;
  admins?: Array<{ name: string; tokenHash: string }>;
  deadline?: string;
  notifyCommand?: string[];
  nutUsers?: Array<{ name: string; password: string; upsmon?: 'primary' | 'secondary' }>;
}

function configText(e: Edits = {}): string {
  return `${JSON.stringify(
    {
      master: { id: 'm1', listen: '127.0.0.1:0', stateDir: 'state' },
      ups: { source: { type: 'simulated', script: 'ups.status: OL' } },
      sequence: [{ groups: ['app'], deadline: e.deadline ?? '2m' }],
      admins: e.admins ?? [{ name: 'ops', tokenHash: ADMIN }],
      shutdown: { dryRun: true },
      log: { level: e.level ?? 'info' },
      ...(e.notifyCommand ? { notify: { command: e.notifyCommand } } : {}),
      nut: { listen: '127.0.0.1:0', users: e.nutUsers ?? [{ name: 'mon', password: 'a' }] },
    },
    null,
    2,
  )}\n`;
}

interface Rig {
  file: string;
  lines: Array<Record<string, unknown>>;
  logger: Logger;
  tokens: TokenStore;
  notifies: NotifySettings[];
  nutUsers: Array<readonly NutUserT[]>;
  nut: NutUsers;
  results: ReloadResult[];
  reloader: ConfigReloader;
}

let n = 0;
function rig(opts: { nutServer?: boolean } = {}): Rig {
  const home = join(dir, `rig-${++n}`);
  mkdirSync(join(home, 'state'), { recursive: true });
  const file = join(home, 'master.yaml');
  writeFileSync(file, configText());
  const settings = loadMasterSettings(file);
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    name: 'test',
    level: settings.log.level,
    stream: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const tokens = new TokenStore(settings.tokensFile, { agents: settings.agents, admins: settings.admins });
  const notifies: NotifySettings[] = [];
  const nutUsers: Array<readonly NutUserT[]> = [];
  const nut = new NutUsers(settings.nut?.users);
  const results: ReloadResult[] = [];
  const reloader = new ConfigReloader({
    settings,
    targets: {
      logger,
      tokens,
      notifier: { setNotify: (spec) => notifies.push(spec) },
      nutServer: () =>
        opts.nutServer === false
          ? null
          : {
              setUsers: (u) => {
                nutUsers.push(u);
                nut.replace(u);
              },
            },
    },
    onReloaded: (r) => results.push(r),
  });
  return { file, lines, logger, tokens, notifies, nutUsers, nut, results, reloader };
}

const msgOf = (r: Rig, level: number) => r.lines.filter((l) => l.level === level);

describe('ConfigReloader', () => {
  let r: Rig;
  beforeEach(() => {
    r = rig();
  });

  it('applies tokens, log level, notify and NUT users; logs one applied line and one restart line', () => {
    const debugBefore = r.logger.child({ module: 'made-before' });
    assert.equal(debugBefore.isLevelEnabled('debug'), false);
    writeFileSync(
      r.file,
      configText({
        level: 'debug',
        admins: [
          { name: 'ops', tokenHash: ADMIN },
          { name: 'oncall', tokenHash: ONCALL },
        ],
        deadline: '5m',
        notifyCommand: ['true'],
        nutUsers: [
          { name: 'mon', password: 'a' },
          { name: 'nas', password: 'b', upsmon: 'secondary' },
        ],
      }),
    );
    const result = r.reloader.reload();
    assert.deepEqual(result, {
      ok: true,
      file: r.file,
      applied: ['/admins', '/notify/command', '/log/level', '/nut/users'],
      restartNeeded: ['/sequence/0/deadline'],
    });
    assert.deepEqual(r.results, [result]);
    // pino children made before the change follow the root's level (they have none of their own)
    assert.equal(debugBefore.isLevelEnabled('debug'), true);
    assert.equal(debugBefore.child({ sub: 1 }).isLevelEnabled('debug'), true);
    assert.deepEqual(
      r.tokens.current().admins.map((a) => a.name),
      ['ops', 'oncall'],
    );
    assert.deepEqual(r.notifies.at(-1)?.command, ['true']);
    assert.deepEqual(
      r.nutUsers.at(-1)?.map((u) => u.name),
      ['mon', 'nas'],
    );
    assert.equal(r.nut.authenticate('nas', 'b')?.upsmon, 'secondary');
    const [info] = msgOf(r, 30).filter((l) => l.msg === 'config reloaded');
    assert.deepEqual(info?.applied, ['/admins', '/notify/command', '/log/level', '/nut/users']);
    const warns = msgOf(r, 40);
    assert.equal(warns.length, 1);
    assert.deepEqual(warns[0]?.restartNeeded, ['/sequence/0/deadline']);
    // the running settings now carry what was applied, and still the old deadline
    assert.equal(r.reloader.settings.log.level, 'debug');
    assert.equal(r.reloader.settings.sequence[0]?.deadlineMs, 120_000);
    // no token, password or hash in the log
    const text = JSON.stringify(r.lines);
    for (const secret of [ONCALL, '"b"', 'sha256:']) assert.ok(!text.includes(secret), secret);
  });

  it('the same file again: nothing applied, and what needs a restart is still reported', () => {
    writeFileSync(r.file, configText({ deadline: '5m' }));
    r.reloader.reload();
    const again = r.reloader.reload();
    assert.deepEqual(again, { ok: true, file: r.file, applied: [], restartNeeded: ['/sequence/0/deadline'] });
    writeFileSync(r.file, configText());
    assert.deepEqual(r.reloader.reload(), { ok: true, file: r.file, applied: [], restartNeeded: [] });
    assert.equal(msgOf(r, 40).length, 2, 'no restart line when nothing needs one');
  });

  it('re-reads the tokens file now, even within its once-a-second check', () => {
    const settings = r.reloader.settings;
    r.tokens.current(); // checked just now
    const token = addToken(settings.tokensFile, 'lab1', 'agent', 'app');
    assert.equal(r.tokens.current().agents.has('lab1'), false, 'not yet: checked less than a second ago');
    r.reloader.reload();
    assert.equal(r.tokens.current().agents.get('lab1')?.tokenHash, hashToken(token));
  });

  it('a file that does not load: an error with every problem and its line, nothing changes', () => {
    const good = configText({ level: 'debug' });
    writeFileSync(
      r.file,
      good.replace('"sequence": [', '"sequence": [[[').replace('"level": "debug"', '"level": "loud"'),
    );
    const result = r.reloader.reload();
    assert.equal(result.ok, false);
    assert.equal(r.logger.level, 'info');
    const [error] = msgOf(r, 50);
    assert.equal(error?.code, 'CONFIG_SYNTAX');
    assert.equal(error?.file, r.file);
    const problems = error?.problems as Array<{ line: number; column: number }>;
    assert.ok(problems.length > 0);
    assert.ok(problems.every((p) => p.line > 0 && p.column > 0));
    assert.deepEqual(r.results, [result]);

    // schema problems: each reported with its line and path
    writeFileSync(r.file, good.replace('"level": "debug"', '"level": "loud"').replace('"2m"', '"soon"'));
    const invalid = r.reloader.reload();
    assert.equal(invalid.ok, false);
    assert.ok(!invalid.ok && invalid.code === 'CONFIG_INVALID');
    const lines = good.split('\n');
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const reported = new Set(
      ((msgOf(r, 50)[1]?.problems ?? []) as Array<{ path: string; line: number }>).map(
        (p) => `${p.path}@${p.line}`,
      ),
    );
    assert.ok(reported.has(`/sequence/0/deadline@${lineOf('"deadline"')}`), [...reported].join(' '));
    assert.ok(reported.has(`/log/level@${lineOf('"level"')}`), [...reported].join(' '));
    assert.equal(r.logger.level, 'info');

    // a missing file too
    rmSync(r.file);
    const missing = r.reloader.reload();
    assert.ok(!missing.ok && missing.code === 'CONFIG_NOT_FOUND');
  });

  it('NUT users wait for a restart when the NUT server is out of reach', () => {
    const noNut = rig({ nutServer: false });
    writeFileSync(noNut.file, configText({ nutUsers: [], level: 'warn' }));
    assert.deepEqual(noNut.reloader.reload(), {
      ok: true,
      file: noNut.file,
      applied: ['/log/level'],
      restartNeeded: ['/nut/users'],
    });
    assert.equal(noNut.reloader.settings.nut?.users?.length, 1);
  });
});
