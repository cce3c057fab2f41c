/**
 * `sshTargets:` in the master config: defaults, the host key pin (a key line or a SHA256 fingerprint, the
 * same fingerprint ssh-keygen -lf prints), and every problem reported with file:line:column.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import { parsePinnedHostKey } from '../../../shared/net/ssh-host-key.js';
import { freshEd25519Line } from '../../support/ssh-key-line.js';

const HASH = `sha256:${'a'.repeat(64)}`;

const BASE = (targets: string) =>
  [
    'master:', //                                  1
    '  id: m1', //                                 2
    'ups:', //                                     3
    '  source: { type: simulated, script: "ups.status: OL" }', // 4
    'groups:', //                                  5
    '  lab: { trigger: { onBatteryFor: 60s } }', // 6
    'sequence:', //                                7
    '  - groups: [storage]', //                    8
    '  - groups: [db]', //                         9
    'agents:', //                                 10
    `  - { id: db1, group: db, tokenHash: "${HASH}" }`, // 11
    'sshTargets:', //                             12
    targets,
  ].join('\n');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isUpsfleetError(err, 'CONFIG_INVALID'), `expected CONFIG_INVALID, got ${String(err)}`);
    return String(err.message).split('\n').slice(1);
  }
  assert.fail('expected the config to be refused');
}

describe('sshTargets config', () => {
  it('applies the defaults and resolves the key file beside the config', () => {
    const line = freshEd25519Line();
    const s = parseMasterSettings(
      BASE(
        `  - id: nas1\n    group: storage\n    address: 10.0.0.5\n    user: upsfleet\n    key: ssh/id_ed25519\n    hostKey: "${line}"\n`,
      ),
      '/etc/upsfleet/master.yaml',
    );
    const t = s.sshTargets[0]!;
    assert.equal(t.host, '10.0.0.5');
    assert.equal(t.port, 22);
    assert.equal(t.keyFile, '/etc/upsfleet/ssh/id_ed25519');
    assert.equal(t.command, 'sudo -n systemctl poweroff');
    assert.equal(t.drillCommand, 'true');
    assert.equal(t.unreachableForMs, 5_000);
    assert.equal(t.probeIntervalMs, 60_000);
    assert.equal(t.connectTimeoutMs, 10_000);
    assert.equal(t.hostKey.type, 'ssh-ed25519');
    assert.match(t.hostKey.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('takes a port, an IPv6 address, a fingerprint pin, its own commands and durations', () => {
    const fp = parsePinnedHostKey(freshEd25519Line()) as { fingerprint: string };
    const s = parseMasterSettings(
      BASE(
        [
          '  - id: fw',
          '    group: lab',
          '    address: "[fd00::1]:2222"',
          '    user: root',
          '    key: /etc/upsfleet/fw.key',
          `    hostKey: ${fp.fingerprint}`,
          '    command: /sbin/shutdown -p now',
          '    drillCommand: "id -u"',
          '    unreachableFor: 10s',
          '    probeInterval: 5m',
          '    connectTimeout: 3s',
        ].join('\n'),
      ),
      'master.yaml',
    );
    const t = s.sshTargets[0]!;
    assert.deepEqual([t.host, t.port], ['fd00::1', 2222]);
    assert.equal(t.hostKey.fingerprint, fp.fingerprint);
    assert.equal(t.hostKey.type, null);
    assert.equal(t.command, '/sbin/shutdown -p now');
    assert.equal(t.drillCommand, 'id -u');
    assert.deepEqual([t.unreachableForMs, t.probeIntervalMs, t.connectTimeoutMs], [10_000, 300_000, 3_000]);
  });

  it('computes the fingerprint ssh-keygen -lf prints', (t) => {
    if (spawnSync('sh', ['-c', 'command -v ssh-keygen']).status !== 0) {
      t.skip('ssh-keygen not installed (Debian package openssh-client)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-hostkey-'));
    try {
      for (const type of ['ed25519', 'ecdsa', 'rsa']) {
        const key = join(dir, type);
        const gen = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', key], { encoding: 'utf8' });
        assert.equal(gen.status, 0, gen.stderr);
        const lf = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`], { encoding: 'utf8' });
        const expected = lf.stdout.split(' ')[1];
        const line = spawnSync('cat', [`${key}.pub`], { encoding: 'utf8' }).stdout.trim();
        const pin = parsePinnedHostKey(line);
        assert.ok(!('problem' in pin), JSON.stringify(pin));
        assert.equal(pin.fingerprint, expected, type);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every problem with file:line:column', () => {
    const good = freshEd25519Line();
    // a key line whose blob says another type: copied with the wrong prefix
    const wrongType = good.replace(/^ssh-ed25519/, 'ssh-rsa');
    const text = BASE(
      [
        '  - id: nas1', //                               13
        '    group: nowhere', //                         14 unknown group
        '    address: 10.0.0.5:70000', //                15 port out of range
        '    user: upsfleet', //                         16
        '    key: id', //                                17
        `    hostKey: "${wrongType}"`, //                18 type mismatch
        '    unreachableFor: 200ms', //                  19 too short
        '  - id: db1', //                                20 an agent's id
        '    group: db', //                              21
        '    address: db1.lan', //                       22
        '    user: root', //                             23
        '    key: id', //                                24
        `    hostKey: "${good}"`, //                     25
        '  - id: nas1', //                               26 twice
        '    group: storage', //                         27
        '    address: nas.lan', //                       28
        '    user: root', //                             29
        '    key: id', //                                30
        '    hostKey: SHA256:tooshort', //               31 schema: neither form
      ].join('\n'),
    );
    // the schema's problems come first (the consistency checks run on a valid document)
    const schema = problemsOf(() => parseMasterSettings(text, 'master.yaml'));
    assert.deepEqual(schema.length, 1, schema.join('\n'));
    assert.match(
      schema[0]!,
      /^master\.yaml:31:\d+: \/sshTargets\/2\/hostKey must be an OpenSSH public key line \(ssh-ed25519 AAAA\.\.\.\) or a SHA256:\.\.\. fingerprint/,
    );

    const problems = problemsOf(() =>
      parseMasterSettings(text.replace('SHA256:tooshort', `"${good}"`), 'master.yaml'),
    );
    const expect = (re: RegExp) =>
      assert.ok(
        problems.some((p) => re.test(p)),
        `${re}\n${problems.join('\n')}`,
      );
    expect(/^master\.yaml:14:\d+: \/sshTargets\/0\/group group "nowhere" is neither in the sequence/);
    expect(/^master\.yaml:15:\d+: \/sshTargets\/0\/address port 70000 is out of range/);
    expect(/^master\.yaml:18:\d+: \/sshTargets\/0\/hostKey the key says "ssh-ed25519" inside, not "ssh-rsa"/);
    expect(/^master\.yaml:19:\d+: \/sshTargets\/0\/unreachableFor must be at least 1s/);
    expect(/^master\.yaml:20:\d+: \/sshTargets\/1\/id "db1" is already an agent's id/);
    expect(/^master\.yaml:26:\d+: \/sshTargets\/2\/id target "nas1" is listed twice/);
    assert.equal(problems.length, 6, problems.join('\n'));
  });

  it('refuses unknown settings and missing ones', () => {
    const problems = problemsOf(() =>
      parseMasterSettings(
        BASE('  - id: nas1\n    group: storage\n    address: nas\n    password: hunter2\n'),
        'master.yaml',
      ),
    );
    const all = problems.join('\n');
    assert.match(all, /master\.yaml:13:\d+: \/sshTargets\/0 is missing required setting "user"/);
    assert.match(all, /is missing required setting "key"/);
    assert.match(all, /is missing required setting "hostKey"/);
    assert.match(all, /master\.yaml:16:5: \/sshTargets\/0\/password unknown setting "password"/);
  });

  it('the example in docs/SSH-TARGETS.md is a valid config', () => {
    const doc = readFileSync(new URL('../../../docs/SSH-TARGETS.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n(master:[\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(yaml, 'docs/SSH-TARGETS.md has a ```yaml block starting with master:');
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-sshdoc-'));
    try {
      writeFileSync(join(dir, 'master.yaml'), yaml);
      const s = parseMasterSettings(yaml, join(dir, 'master.yaml'));
      assert.deepEqual(
        s.sshTargets.map((t) => [t.id, t.port, t.hostKey.type ?? 'fingerprint', t.command]),
        [
          ['nas1', 22, 'ssh-ed25519', 'sudo -n systemctl poweroff'],
          ['fw', 2222, 'fingerprint', 'sudo -n /sbin/shutdown -p now'],
        ],
      );
      assert.equal(s.sshTargets[0]!.keyFile, join(dir, 'ssh/id_ed25519'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
