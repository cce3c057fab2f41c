import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAgentSettings } from '../../../shared/config/agent-settings.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { isUpsfleetError } from '../../../shared/errors.js';

const HASH = `sha256:${'a'.repeat(64)}`;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isUpsfleetError(err), `expected an UpsfleetError, got ${String(err)}`);
    return String(err.message).split('\n').slice(1);
  }
  assert.fail('expected the config to be refused');
}

describe('master config', () => {
  it('applies defaults and converts durations', () => {
    const s = parseMasterSettings(
      `master:\n  id: m1\nups:\n  source:\n    type: simulated\n    script: "ups.status: OL"\nsequence:\n  - groups: [vms]\n    deadline: 2m\n  - groups: [db]\nagents:\n  - { id: a1, group: vms, tokenHash: "${HASH}" }\n`,
      '/etc/upsfleet/master.yaml',
    );
    assert.deepEqual(s.listen, { host: '127.0.0.1', port: 8740 });
    assert.equal(s.sequence[0]!.deadlineMs, 120_000);
    assert.equal(s.sequence[1]!.deadlineMs, 180_000);
    assert.equal(s.sequence[1]!.settleMs, 5_000);
    assert.equal(s.policy.deadtimeMs, 15_000);
    assert.equal(s.shutdown.killpower, 'shutdown.return');
    assert.equal(s.ups.name, 'ups');
  });

  it('reports every problem with file:line:column', () => {
    const text = [
      'master:', //                      1
      '  id: m1', //                     2
      '  colour: blue', //               3 unknown setting
      'ups:', //                         4
      '  source:', //                    5
      '    type: simulated', //          6
      'policy:', //                      7
      '  debounce: 5 seconds', //        8 bad duration
      'sequence:', //                    9
      '  - groups: [vms]', //           10
      '  - groups: [vms]', //           11 duplicate group
      'agents:', //                     12
      '  - id: a1', //                  13
      '    group: nowhere', //          14 unknown group
      `    tokenHash: "${HASH}"`, //    15
    ].join('\n');
    const problems = problemsOf(() => parseMasterSettings(text, 'master.yaml'));
    assert.ok(
      problems.some((p) => p.startsWith('master.yaml:3:3: /master/colour unknown setting "colour"')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('master.yaml:8:13: /policy/debounce must be seconds')),
      problems.join('\n'),
    );
    // consistency checks only run on a schema-valid file: fix the schema errors and look again
    const fixed = text.replace('  colour: blue\n', '').replace('5 seconds', '5s');
    const second = problemsOf(() => parseMasterSettings(fixed, 'master.yaml'));
    assert.ok(
      second.some((p) =>
        /^master\.yaml:10:14: \/sequence\/1\/groups\/0 group "vms" is already in step 1/.test(p),
      ),
      second.join('\n'),
    );
    assert.ok(
      second.some((p) => /^master\.yaml:13:12: \/agents\/0\/group group "nowhere"/.test(p)),
      second.join('\n'),
    );
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf(() => parseMasterSettings('master:\n  id: [unclosed\n', 'bad.yaml'));
    assert.match(problems[0]!, /^bad\.yaml:\d+:\d+: /);
  });
});

describe('agent config', () => {
  it('needs a token and reports the missing pieces where they belong', () => {
    const problems = problemsOf(() =>
      parseAgentSettings(
        'agent:\n  id: web1\n  group: app\nmaster:\n  urls: ["http://nope"]\n',
        'agent.yaml',
      ),
    );
    assert.ok(
      problems.some((p) => p.startsWith('agent.yaml:5:10: /master/urls/0 must match pattern')),
      problems.join('\n'),
    );
    const noToken = problemsOf(() =>
      parseAgentSettings(
        'agent:\n  id: web1\n  group: app\nmaster:\n  urls: ["ws://127.0.0.1:1/ws"]\n',
        'agent.yaml',
      ),
    );
    assert.ok(
      noToken.some((p) => p.startsWith('agent.yaml:2:3: /agent needs "token" or "tokenFile"')),
      noToken.join('\n'),
    );
  });

  it('defaults the power-off command per OS and keeps dry-run off unless asked', () => {
    const s = parseAgentSettings(
      'agent:\n  id: web1\n  group: app\n  token: "0123456789"\nmaster:\n  urls: ["ws://127.0.0.1:1/ws"]\nhooks:\n  - run: "true"\n',
      '/tmp/agent.yaml',
    );
    assert.equal(s.shutdown.dryRun, false);
    assert.deepEqual(
      s.shutdown.command,
      process.platform === 'linux' ? ['systemctl', 'poweroff'] : s.shutdown.command,
    );
    assert.equal(s.hooks[0]!.timeoutMs, 30_000);
    assert.equal(s.deadtimeMs, 15_000);
  });
});
