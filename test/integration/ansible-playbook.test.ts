/**
 * deploy/ansible end to end, with `connection: local` into test roots (nothing touches this machine's /etc,
 * systemd or packages: upsfleet_root prefixes every path, upsfleet_manage_services is false, Node.js is present).
 * Run 1 deploys a master and 3 agents (3 groups) from the one-file artefacts; the deployed master and agents
 * are started exactly as their units would start them (under the root prefix), connect with the generated tokens
 * and pinned fingerprint, and pass a drill (dry-run everywhere). Run 2 must report changed=0 on every host.
 * Also: ansible-lint passes on deploy/ansible.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stopProcesses } from '../../cli/demo/fleet-launcher.js';
import { main } from '../../cli/dispatch.js';
import type { DrillReport } from '../../master/drill/drill-report.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import { pollFor } from '../support/poll.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ANSIBLE = join(ROOT, 'deploy', 'ansible');
const has = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0;
const AGENTS = [
  { id: 'vm1', group: 'upsfleet_vms', upsfleet: 'vms' },
  { id: 'app1', group: 'upsfleet_app', upsfleet: 'app' },
  { id: 'db1', group: 'upsfleet_db', upsfleet: 'db' },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function playbook(dir: string): { status: number | null; out: string } {
  const r = spawnSync(
    'ansible-playbook',
    ['-i', join(dir, 'hosts.yml'), '-e', `@${join(dir, 'test-vars.json')}`, join(ANSIBLE, 'site.yml')],
    {
      cwd: ANSIBLE,
      encoding: 'utf8',
      env: {
        ...process.env,
        ANSIBLE_CONFIG: join(ANSIBLE, 'ansible.cfg'),
        ANSIBLE_LOCAL_TEMP: join(dir, '.ansible-tmp'),
        ANSIBLE_REMOTE_TEMP: join(dir, '.ansible-tmp'),
        ANSIBLE_HOME: join(dir, '.ansible'),
        ANSIBLE_FORCE_COLOR: '0',
        ANSIBLE_NOCOLOR: '1',
      },
      timeout: 600_000,
    },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('ansible roles', {
  skip: has('ansible-playbook')
    ? false
    : 'ansible-playbook not installed (Debian package ansible): playbook test skipped',
}, () => {
  let dir: string;
  let port: number;
  const procs: ChildProcess[] = [];
  let run1: { status: number | null; out: string };

  before(() => {
    for (const f of ['upsfleet.cjs', 'upsfleet-agent.cjs']) {
      if (!existsSync(join(ROOT, 'dist', f))) {
        const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-bundles.mjs')], {
          cwd: ROOT,
          encoding: 'utf8',
        });
        assert.equal(b.status, 0, b.stderr);
      }
    }
  });

  after(async () => {
    await stopProcesses(procs);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('run 1 deploys a master and agents that connect and pass a drill', async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-ansible-'));
    port = await freePort();
    const local = {
      ansible_connection: 'local',
      ansible_python_interpreter: spawnSync('sh', ['-c', 'command -v python3'], {
        encoding: 'utf8',
      }).stdout.trim(),
    };
    const hosts = {
      all: {
        children: {
          upsfleet_master: {
            hosts: {
              master: {
                ...local,
                ansible_host: '127.0.0.1',
                upsfleet_root: join(dir, 'master'),
                upsfleet_master_listen: `127.0.0.1:${port}`,
              },
            },
          },
          upsfleet_agents: {
            children: Object.fromEntries(
              AGENTS.map((a) => [
                a.group,
                {
                  hosts: { [a.id]: { ...local, upsfleet_root: join(dir, a.id) } },
                  vars: { upsfleet_group: a.upsfleet },
                },
              ]),
            ),
          },
        },
      },
    };
    writeFileSync(join(dir, 'hosts.yml'), JSON.stringify(hosts, null, 2));
    writeFileSync(
      join(dir, 'test-vars.json'),
      JSON.stringify({
        upsfleet_become: false,
        upsfleet_manage_services: false,
        upsfleet_install_node: false,
        upsfleet_dry_run: true,
        upsfleet_shutdown_command: ['/bin/true'],
        upsfleet_dist_dir: join(ROOT, 'dist'),
        upsfleet_sequence: [
          { groups: ['vms'], deadline: '20s', settle: '100ms' },
          { groups: ['app'], deadline: '20s' },
          { groups: ['db'], deadline: '20s' },
        ],
        upsfleet_master_source: {
          type: 'simulated',
          script: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
        },
        upsfleet_master_policy: { debounce: '1s', deadtime: '15s' },
        upsfleet_agent_hooks: [{ name: 'sync', run: 'sync', timeout: '10s', drillSafe: true }],
        upsfleet_master_mdns: false,
        upsfleet_master_udev_vendor: '051d',
        upsfleet_master_udev_product: '0002',
      }),
    );
    run1 = playbook(dir);
    assert.equal(run1.status, 0, run1.out);

    const m = join(dir, 'master');
    assert.ok(existsSync(join(m, 'etc/systemd/system/upsfleet-master.service')));
    assert.match(
      readFileSync(join(m, 'etc/udev/rules.d/90-upsfleet-ups.rules'), 'utf8'),
      /ATTRS\{idVendor\}=="051d"/,
    );
    assert.deepEqual(readdirSync(join(m, 'etc/upsfleet/tokens')).sort(), [
      'admin.token',
      'app1.token',
      'db1.token',
      'vm1.token',
    ]);
    for (const a of AGENTS) {
      const r = join(dir, a.id);
      assert.ok(existsSync(join(r, 'etc/systemd/system/upsfleet-agent.service')));
      assert.equal(
        readFileSync(join(r, 'etc/upsfleet/agent.token'), 'utf8').trim(),
        readFileSync(join(m, `etc/upsfleet/tokens/${a.id}.token`), 'utf8').trim(),
      );
      assert.match(
        readFileSync(join(r, 'etc/upsfleet/agent.yaml'), 'utf8'),
        /fingerprint: sha256:[0-9a-f]{64}/,
      );
    }

    // start them as the units do, under the root prefix
    const unitArgs = (unit: string) => {
      const line = readFileSync(unit, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('ExecStart='))!;
      // ExecStart=/usr/bin/node FILE ARGS (or through /usr/bin/env node): run FILE ARGS with this node
      return line.replace(/^ExecStart=(\/usr\/bin\/env )?\S*node /, '').split(' ');
    };
    const start = (root: string, unit: string, name: string) => {
      const args = unitArgs(join(root, 'etc/systemd/system', unit)).map((a) =>
        a.startsWith('/') ? join(root, a) : a,
      );
      const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      p.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      p.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      Object.assign(p, { logText: () => `${name}: ${log}` });
      procs.push(p);
      return p;
    };
    start(m, 'upsfleet-master.service', 'master');
    const info = await pollFor(
      'the master to write master.json',
      () => {
        const f = join(m, 'var/lib/upsfleet/master.json');
        return existsSync(f)
          ? (JSON.parse(readFileSync(f, 'utf8')) as { http: string; fingerprint: string })
          : undefined;
      },
      20_000,
      { intervalMs: 100 },
    );
    for (const a of AGENTS) start(join(dir, a.id), 'upsfleet-agent.service', a.id);
    const fingerprints = [info.fingerprint];
    await pollFor(
      'every agent connected',
      async () => {
        const res = await pinnedRequest(`${info.http}/status`, { fingerprints });
        const agents = (JSON.parse(res.text) as { agents: Array<{ connected: boolean }> }).agents;
        return agents.filter((x) => x.connected).length === AGENTS.length ? true : undefined;
      },
      30_000,
      { intervalMs: 100 },
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\n${procs.map((p) => (p as unknown as { logText: () => string }).logText()).join('\n')}`,
      );
    });

    process.env.UPSFLEET_FINGERPRINT = info.fingerprint;
    let out = '';
    let errText = '';
    const token = readFileSync(join(m, 'etc/upsfleet/tokens/admin.token'), 'utf8').trim();
    const code = await main(
      ['drill', '--master', info.http, '--token', token, '--json', '--interval', '100'],
      {
        stdout: (t) => {
          out += t;
        },
        stderr: (t) => {
          errText += t;
        },
      },
    );
    delete process.env.UPSFLEET_FINGERPRINT;
    assert.equal(code, 0, `${out}\n${errText}`);
    const report = JSON.parse(out) as DrillReport;
    assert.equal(report.ok, true);
    assert.deepEqual(report.hosts.map((h) => h.id).sort(), AGENTS.map((a) => a.id).sort());
    for (const h of report.hosts)
      assert.deepEqual(
        h.hooks.map((k) => k.status),
        ['ok'],
      );
    for (const a of AGENTS)
      assert.deepEqual(
        readdirSync(join(dir, a.id, 'var/lib/upsfleet')).filter((f) => f.endsWith('.poweroff')),
        [],
      );
    await stopProcesses(procs.splice(0));
  });

  it('run 2 changes nothing (changed=0 on every host)', { skip: false }, () => {
    assert.ok(run1, 'run 1 did not happen');
    const run2 = playbook(dir);
    assert.equal(run2.status, 0, run2.out);
    const recap = run2.out.slice(run2.out.indexOf('PLAY RECAP'));
    const lines = recap.split('\n').filter((l) => / ok=\d+/.test(l));
    assert.equal(lines.length, 1 + AGENTS.length, recap);
    for (const l of lines) assert.match(l, /\bchanged=0\b/, `not idempotent:\n${run2.out}`);
  });

  it('ansible-lint passes on deploy/ansible', (t) => {
    if (!has('ansible-lint')) {
      t.skip('ansible-lint not installed (Debian package ansible-lint): lint skipped');
      return;
    }
    const r = spawnSync('ansible-lint', ['--nocolor'], {
      cwd: ANSIBLE,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', ANSIBLE_HOME: join(dir ?? tmpdir(), '.ansible-lint-home') },
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});
