/**
 * Secrets on disk (issue 14): `keygen --force` leaves the key 0600 whatever the mode of the file it replaces
 * (it printed 0600 and kept 0644), and the agent refuses a token file that group or others can access, as
 * ssh refuses a private key, and an empty one (no token is not a token). Real CLI processes and files.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadAgentSettings } from '../../../shared/config/agent-settings.js';

const CLI = join(import.meta.dirname, '../../../cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'upsfleet-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('key and token files', () => {
  it('keygen --force writes the key 0600 over a key left 0644 (and says so truthfully)', async () => {
    const out = join(dir, 'tls');
    const first = await cli(['keygen', '--out', out]);
    assert.equal(first.code, 0, first.stderr);
    const key = join(out, 'master.key');
    assert.equal(modeOf(key), '600');
    chmodSync(key, 0o644);
    const again = await cli(['keygen', '--out', out, '--force']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /master\.key \(mode 0600\)/);
    assert.equal(modeOf(key), '600', 'the replaced key is 0600');
  });

  function agentConfig(tokenText: string, mode: number): string {
    const sub = mkdtempSync(join(dir, 'agent-'));
    const tokenFile = join(sub, 'agent.token');
    writeFileSync(tokenFile, tokenText, { mode });
    chmodSync(tokenFile, mode);
    const config = join(sub, 'agent.yaml');
    writeFileSync(
      config,
      [
        'agent: { id: web1, group: app, tokenFile: agent.token }',
        'master: { urls: ["ws://127.0.0.1:1/ws"] }',
      ].join('\n'),
    );
    return config;
  }

  it('reads a 0600 token file', () => {
    assert.equal(
      loadAgentSettings(agentConfig('upf_good-token-xxxxxxxx\n', 0o600)).token,
      'upf_good-token-xxxxxxxx',
    );
    assert.equal(
      loadAgentSettings(agentConfig('upf_good-token-xxxxxxxx', 0o400)).token,
      'upf_good-token-xxxxxxxx',
    );
  });

  for (const mode of [0o644, 0o640, 0o604, 0o620]) {
    it(`refuses a token file with mode 0${mode.toString(8)} (TOKEN_FILE_INSECURE, says chmod 600)`, () => {
      assert.throws(
        () => loadAgentSettings(agentConfig('upf_good-token-xxxxxxxx\n', mode)),
        (err: Error & { code?: string }) =>
          err.code === 'TOKEN_FILE_INSECURE' &&
          /chmod 600/.test(err.message) &&
          /agent\.token/.test(err.message),
      );
    });
  }

  for (const [what, text] of [
    ['empty', ''],
    ['blank', ' \n\n'],
  ] as const) {
    it(`refuses an ${what} token file (TOKEN_FILE_EMPTY)`, () => {
      assert.throws(
        () => loadAgentSettings(agentConfig(text, 0o600)),
        (err: Error & { code?: string }) => err.code === 'TOKEN_FILE_EMPTY',
      );
    });
  }

  it('the agent process does not start on a token file others can read', async () => {
    const r = await cli(['agent', '-c', agentConfig('upf_good-token-xxxxxxxx\n', 0o644)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /TOKEN_FILE_INSECURE|chmod 600/);
  });
});
