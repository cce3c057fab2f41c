/** planReload: which config changes a running master applies on SIGHUP and which need a restart. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planReload, runningAfter } from '../../../master/reload/reload-plan.js';
import { type MasterSettings, parseMasterSettings } from '../../../shared/config/master-settings.js';

const HASH_A = `sha256:${'a'.repeat(64)}`;
const HASH_B = `sha256:${'b'.repeat(64)}`;
const FILE = '/etc/upsfleet/master.yaml';

// biome-ignore lint/suspicious/noExplicitAny: test configs are edited freely
type Config = Record<string, any>;

function baseConfig(): Config {
  return {
    master: { id: 'm1', listen: '127.0.0.1:8443', stateDir: 'state', limits: { handshakeTimeout: '10s' } },
    ups: { name: 'ups', source: { type: 'simulated', script: 'ups.status: OL', speed: 1 } },
    policy: { debounce: '5s', critical: { chargeBelow: 20 } },
    groups: { lab: { trigger: { onBatteryFor: '60s' } } },
    sequence: [{ groups: ['app'], deadline: '2m' }, { groups: ['db'] }],
    agents: [{ id: 'web1', group: 'app', tokenHash: HASH_A }],
    admins: [{ name: 'ops', tokenHash: HASH_A }],
    shutdown: { dryRun: true },
    notify: {
      command: ['logger', 'upsfleet'],
      webhooks: [{ url: 'https://hooks.example/x', timeout: '5s' }],
    },
    log: { level: 'info' },
    nut: { listen: '127.0.0.1:3493', users: [{ name: 'monuser', password: 'secret', upsmon: 'secondary' }] },
  };
}

/** Settings from the base config after `edit` (JSON is YAML). */
function settings(edit: (c: Config) => void = () => {}): MasterSettings {
  const c = baseConfig();
  edit(c);
  return parseMasterSettings(JSON.stringify(c), FILE);
}

function paths(edit: (c: Config) => void) {
  const plan = planReload(settings(), settings(edit));
  return { apply: plan.apply.map((c) => c.path), restartNeeded: plan.restartNeeded.map((c) => c.path) };
}

describe('planReload', () => {
  it('no change: an empty plan', () => {
    assert.deepEqual(planReload(settings(), settings()), { apply: [], restartNeeded: [] });
  });

  it('the same value written another way is no change (durations are compared resolved)', () => {
    assert.deepEqual(
      paths((c) => {
        c.sequence[0].deadline = 120;
        c.policy.debounce = '5000ms';
      }),
      { apply: [], restartNeeded: [] },
    );
  });

  it('tokens: an admin added, an agent token changed', () => {
    const plan = planReload(
      settings(),
      settings((c) => {
        c.admins.push({ name: 'oncall', tokenHash: HASH_B });
        c.agents[0].tokenHash = HASH_B;
      }),
    );
    assert.deepEqual(plan.apply, [
      { path: '/agents/0/tokenHash', area: 'tokens' },
      { path: '/admins', area: 'tokens' },
    ]);
    assert.deepEqual(plan.restartNeeded, []);
  });

  it('log level applies; the log file needs a restart', () => {
    const plan = planReload(
      settings(),
      settings((c) => {
        c.log = { level: 'debug', file: '/var/log/upsfleet.log' };
      }),
    );
    assert.deepEqual(plan.apply, [{ path: '/log/level', area: 'logLevel' }]);
    assert.deepEqual(plan.restartNeeded, [{ path: '/log/file', area: null }]);
  });

  it('notify: command, timeout and webhooks, with their nested paths', () => {
    const plan = planReload(
      settings(),
      settings((c) => {
        c.notify.command = '/usr/local/bin/notify';
        c.notify.timeout = '3s';
        c.notify.webhooks[0].timeout = '9s';
        c.notify.webhooks[0].headers = { Authorization: 'Bearer x' };
      }),
    );
    assert.deepEqual(
      plan.apply.map((c) => [c.path, c.area]),
      [
        ['/notify/command', 'notify'],
        ['/notify/timeout', 'notify'],
        ['/notify/webhooks/0/headers/Authorization', 'notify'],
        ['/notify/webhooks/0/timeout', 'notify'],
      ],
    );
    assert.deepEqual(plan.restartNeeded, []);
  });

  it('NUT users apply; the NUT listener and the other NUT settings need a restart', () => {
    assert.deepEqual(
      paths((c) => {
        c.nut.users[0].password = 'changed';
        c.nut.listen = '127.0.0.1:3494';
        c.nut.hideLowBattery = false;
      }),
      { apply: ['/nut/users/0/password'], restartNeeded: ['/nut/listen', '/nut/hideLowBattery'] },
    );
    assert.deepEqual(
      paths((c) => {
        c.nut.users.push({ name: 'nas', password: 'p', group: 'db' });
      }).apply,
      ['/nut/users'],
    );
  });

  it('turning the NUT server on or off needs a restart', () => {
    assert.deepEqual(
      paths((c) => {
        delete c.nut;
      }),
      { apply: [], restartNeeded: ['/nut'] },
    );
  });

  it('everything else needs a restart, each with the config path an operator edits', () => {
    // defaults derived from another setting change with it (the default marker is named after the id)
    const cases: Array<[string | string[], (c: Config) => void]> = [
      [['/master/id', '/shutdown/marker'], (c) => (c.master.id = 'm2')],
      ['/master/listen', (c) => (c.master.listen = '127.0.0.1:9443')],
      [
        ['/master/stateDir', '/master/tls', '/master/tokensFile', '/shutdown/marker'],
        (c) => (c.master.stateDir = '/var/lib/upsfleet'),
      ],
      ['/master/pingInterval', (c) => (c.master.pingInterval = '2s')],
      ['/master/tls', (c) => (c.master.tls = { cert: 'a.crt', key: 'a.key' })],
      ['/master/tokensFile', (c) => (c.master.tokensFile = '/etc/upsfleet/tokens.json')],
      ['/master/limits/handshakeTimeout', (c) => (c.master.limits.handshakeTimeout = '20s')],
      ['/master/limits/authFailures', (c) => (c.master.limits.authFailures = 9)],
      ['/master/mdns', (c) => (c.master.mdns = false)],
      ['/master/journalMaxBytes', (c) => (c.master.journalMaxBytes = 1 << 20)],
      ['/ups/name', (c) => (c.ups.name = 'rack1')],
      ['/ups/source/speed', (c) => (c.ups.source.speed = 10)],
      ['/ups/source', (c) => (c.ups.source = { type: 'nut', host: 'nas', ups: 'ups' })],
      ['/policy/debounce', (c) => (c.policy.debounce = '10s')],
      ['/policy/critical/runtimeBelow', (c) => (c.policy.critical.runtimeBelow = '3m')],
      ['/groups/lab/trigger/onBatteryFor', (c) => (c.groups.lab.trigger.onBatteryFor = '2m')],
      ['/groups/lab/deadline', (c) => (c.groups.lab.deadline = '30s')],
      ['/sequence/0/deadline', (c) => (c.sequence[0].deadline = '3m')],
      ['/sequence/1/settle', (c) => (c.sequence[1].settle = '12s')],
      ['/sequence/1/groups', (c) => c.sequence[1].groups.push('storage')],
      ['/sequence', (c) => c.sequence.push({ groups: ['storage'] })],
      ['/shutdown/dryRun', (c) => (c.shutdown.dryRun = false)],
      ['/shutdown/killpower', (c) => (c.shutdown.killpower = 'load.off.delay')],
      ['/plan/margin', (c) => (c.plan = { margin: '2m' })],
    ];
    for (const [expected, edit] of cases) {
      const restartNeeded = typeof expected === 'string' ? [expected] : expected;
      assert.deepEqual(paths(edit), { apply: [], restartNeeded }, restartNeeded[0]);
    }
  });

  it('a new early group is named by its group path', () => {
    assert.deepEqual(
      paths((c) => {
        c.groups.cold = { trigger: { chargeBelow: 80 } };
      }).restartNeeded,
      ['/groups/cold'],
    );
  });

  it('mixed: live changes and restart-needed ones are told apart', () => {
    assert.deepEqual(
      paths((c) => {
        c.log.level = 'debug';
        c.admins.push({ name: 'oncall', tokenHash: HASH_B });
        c.sequence[0].deadline = '5m';
        c.ups.source.script = 'ups.status: OB';
      }),
      {
        apply: ['/admins', '/log/level'],
        restartNeeded: ['/ups/source/script', '/sequence/0/deadline'],
      },
    );
  });
});

describe('runningAfter', () => {
  it('takes the applied areas from the new settings and keeps the rest as running', () => {
    const current = settings();
    const next = settings((c) => {
      c.log.level = 'debug';
      c.admins.push({ name: 'oncall', tokenHash: HASH_B });
      c.nut.users = [];
      c.sequence[0].deadline = '5m';
    });
    const running = runningAfter(current, next, new Set(['tokens', 'logLevel', 'nutUsers']));
    assert.equal(running.log.level, 'debug');
    assert.equal(running.admins.length, 2);
    assert.deepEqual(running.nut?.users, []);
    assert.equal(running.nut?.listen, '127.0.0.1:3493');
    assert.equal(running.sequence[0]!.deadlineMs, 120_000);
    // what was not applied is still reported against the running settings
    assert.deepEqual(
      planReload(running, next).restartNeeded.map((c) => c.path),
      ['/sequence/0/deadline'],
    );
    assert.deepEqual(planReload(running, next).apply, []);
  });

  it('an area not applied (NUT server unreachable) stays as it runs', () => {
    const next = settings((c) => {
      c.nut.users = [];
    });
    const running = runningAfter(settings(), next, new Set());
    assert.equal(running.nut?.users?.length, 1);
  });
});
