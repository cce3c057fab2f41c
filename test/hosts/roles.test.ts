/**
 * deploy/ansible on real Debian 12 hosts (systemd as PID 1, systemd-nspawn containers on a bridge of their
 * own), reached over SSH as the sudo user `deploy` with become, apt through the fleet's proxy to this
 * machine's Debian archives. One fleet for the whole file, the cases in order, each building on the last:
 * a first run that fails at token generation and the rerun that heals it, idempotence, check mode, --limit,
 * the CLI on the master, the usbhid source, the master's NUT server/hooks/killpower/TLS options, a host
 * added, the switch to the Debian package, the README's quick-start status and drill on the master, the
 * master rebooted, and last a real power-off of the agent hosts in sequence order.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import { type FleetLayout, REPO_ROOT, runPlaybook, writeInventory } from './ansible-run.js';
import { DEPLOY_USER } from './base-root.js';
import { createHostFleet, type HostFleet, hostFleetSkipReason } from './host-fleet.js';

const skip = hostFleetSkipReason();
const DIST = process.env.UPSFLEET_DIST_DIR ?? join(REPO_ROOT, 'dist');
const MASTER = 'ups-master';
const PORT = 8740;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface StatusJson {
  agents: Array<{ id: string; connected: boolean; version: string | null }>;
  ups: { vars: Record<string, string> };
  sequence: {
    state?: string;
    steps?: Array<{
      index: number | null;
      groups: string[];
      endedBy: string | null;
      members: Array<{ id: string; state: string; dryRun: boolean | null; downAt: number | null }>;
    }>;
  };
}

describe('ansible roles on real hosts', { skip: skip ? `host fleet unavailable: ${skip}` : false }, () => {
  let fleet: HostFleet;
  let work: string;
  const layout: FleetLayout = {
    master: MASTER,
    agents: { app: ['app1'], db: ['db1'] },
    hostVars: { [MASTER]: { upsfleet_master_udev_vendor: '051d', upsfleet_master_udev_product: '0002' } },
  };
  let vars: Record<string, unknown>;
  const inventory = () => writeInventory(fleet, layout, join(work, 'hosts.json'));
  const varsFile = () => {
    const f = join(work, 'vars.json');
    writeFileSync(f, JSON.stringify(vars, null, 2));
    return f;
  };
  /** The playbook's output, followed on failure by the units' journals (what a user would look at next). */
  const playbook = async (args: string[] = []) => {
    const run = await runPlaybook({
      inventory: inventory(),
      varsFile: varsFile(),
      workDir: work,
      args,
      timeoutMs: 600_000,
    });
    if (run.status !== 0) run.out += await journals();
    return run;
  };
  const journals = async () => {
    const parts = await Promise.all(
      [...fleet.hosts.values()]
        .filter((h) => h.running)
        .map(async (h) => {
          const unit = h.name === MASTER ? 'upsfleet-master' : 'upsfleet-agent';
          // ansible logs in as the deploy user: when it finds a host unreachable, this says whether we can
          const asDeploy = await h.ssh('id -un', { user: DEPLOY_USER, timeoutMs: 20_000 });
          return `\n--- ${h.name} (${h.address}): ssh as ${DEPLOY_USER}: exit ${asDeploy.code} ${asDeploy.out.trim().slice(-400)}\n--- ${h.name}: journalctl -u ${unit}\n${(await h.ssh(`journalctl -u ${unit} --no-pager -n 40`)).out}`;
        }),
    );
    const routes = spawnSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' }).stdout;
    return `${parts.join('')}\n--- this machine's IPv4 routes (bridge ${fleet.bridge})\n${routes}`;
  };
  const host = (name: string) => {
    const h = fleet.hosts.get(name);
    assert.ok(h, `no host ${name}`);
    return h;
  };
  const onMaster = async (command: string) => {
    const r = await host(MASTER).ssh(command);
    assert.equal(r.code, 0, `on ${MASTER}: ${command}\n${r.out}`);
    return r.out;
  };
  /** As the README's quick start does it: `ssh ups-server sudo ...` as the non-root deploy user. */
  const asDeployOnMaster = async (command: string) => {
    const r = await host(MASTER).ssh(command, { user: DEPLOY_USER });
    assert.equal(r.code, 0, `on ${MASTER} as ${DEPLOY_USER}: ${command}\n${r.out}`);
    return r.out;
  };
  const fingerprint = async () =>
    (JSON.parse(await onMaster('cat /etc/ansible/facts.d/upsfleet.fact')) as { fingerprint: string })
      .fingerprint;
  const masterStatus = async (): Promise<StatusJson> => {
    const res = await pinnedRequest(`https://${host(MASTER).address}:${PORT}/status`, {
      fingerprints: [await fingerprint()],
    });
    assert.equal(res.status, 200, res.text);
    return JSON.parse(res.text) as StatusJson;
  };
  const agentNames = () => Object.values(layout.agents).flat();
  const waitConnected = async (names: string[], timeoutMs = 90_000) => {
    let last = '';
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        const s = await masterStatus();
        const up = s.agents.filter((a) => a.connected).map((a) => a.id);
        last = JSON.stringify(s.agents);
        if (names.every((n) => up.includes(n))) return s;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`agents ${names.join(', ')} not all connected: ${last}\n${await journals()}`);
  };
  const expectAllUnchanged = (run: {
    out: string;
    recap: Map<string, { changed: number; failed: number }>;
  }) => {
    assert.equal(run.recap.size, 1 + agentNames().length, run.out);
    for (const [name, r] of run.recap) {
      assert.equal(r.failed, 0, `${name} failed:\n${run.out}`);
      assert.equal(r.changed, 0, `${name} changed:\n${run.out}`);
    }
  };

  before(async () => {
    for (const f of ['upsfleet.cjs', 'upsfleet-agent.cjs']) {
      if (!existsSync(join(DIST, f))) {
        const b = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-bundles.mjs')], {
          cwd: REPO_ROOT,
          encoding: 'utf8',
        });
        assert.equal(b.status, 0, b.stderr);
      }
    }
    work = mkdtempSync(join(tmpdir(), 'upsfleet-hosts-ansible-'));
    fleet = await createHostFleet([{ name: MASTER }, { name: 'app1' }, { name: 'db1' }]);
    console.log(`host fleet: ${JSON.stringify(fleet.timings)}`);
    vars = {
      upsfleet_dist_dir: DIST,
      upsfleet_sequence: [
        { groups: ['app'], deadline: '90s', settle: '1s' },
        { groups: ['db'], deadline: '90s' },
      ],
      upsfleet_master_source: {
        type: 'simulated',
        script: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
      },
      upsfleet_master_policy: { debounce: '1s', deadtime: '30s' },
      upsfleet_master_mdns: false,
      // the master host stays up to tell what happened; the agents' hosts power off for real
      upsfleet_master_dry_run: true,
      upsfleet_agent_deadtime: '60s',
    };
  });

  after(async () => {
    await fleet?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a first run that fails at token generation leaves no empty token, and the rerun heals the fleet', {
    timeout: 900_000,
  }, async () => {
    // the injected failure: the master's CLI exits non-zero, as a broken or too old one would
    const broken = join(work, 'broken-dist');
    spawnSync('mkdir', ['-p', broken]);
    writeFileSync(
      join(broken, 'upsfleet.cjs'),
      "#!/usr/bin/env node\nprocess.stderr.write('injected failure\\n');\nprocess.exit(1);\n",
    );
    writeFileSync(join(broken, 'upsfleet-agent.cjs'), readFileSync(join(DIST, 'upsfleet-agent.cjs')));
    vars.upsfleet_dist_dir = broken;
    const failed = await playbook();
    console.log(`failing first run: ${failed.ms} ms`);
    assert.notEqual(failed.status, 0, failed.out);
    assert.match(failed.out, /Generate a token per agent/);
    assert.equal(failed.recap.get(MASTER)?.failed, 1, failed.out);
    const left = await onMaster('find /etc/upsfleet/tokens -type f -printf "%f %s\\n"');
    assert.equal(left.trim(), '', `token files left by the failed run:\n${left}`);

    vars.upsfleet_dist_dir = DIST;
    const run = await playbook();
    console.log(`healing run: ${run.ms} ms`);
    assert.equal(run.status, 0, run.out);
    for (const name of [MASTER, ...agentNames()]) assert.equal(run.recap.get(name)?.failed, 0, run.out);

    const sizes = await onMaster('find /etc/upsfleet/tokens -type f -printf "%f %s\\n" | sort');
    for (const line of sizes.trim().split('\n')) assert.ok(Number(line.split(' ')[1]) > 1, sizes);
    assert.equal(sizes.trim().split('\n').length, agentNames().length + 1, sizes);
    const config = await onMaster('cat /etc/upsfleet/master.yaml');
    assert.ok(!config.includes(EMPTY_SHA256), `the empty string's hash in master.yaml:\n${config}`);

    // the hosts run Debian's own Node.js, installed by the role through the proxy
    for (const name of [MASTER, ...agentNames()]) {
      const v = await host(name).ssh('node --version; dpkg-query -W nodejs');
      assert.match(v.out, /^v18\./, `${name}: ${v.out}`);
    }
    assert.deepEqual(fleet.proxy.refused, []);
    for (const name of agentNames()) {
      const r = await host(name).ssh('systemctl is-active upsfleet-agent');
      assert.equal(r.out.trim(), 'active', `${name}: ${r.out}`);
    }
    assert.equal((await onMaster('systemctl is-active upsfleet-master')).trim(), 'active');
    // the udev rule is installed and its reload handler did not fail on a host without udevadm
    assert.match(await onMaster('cat /etc/udev/rules.d/90-upsfleet-ups.rules'), /ATTRS\{idVendor\}=="051d"/);
    assert.notEqual((await host(MASTER).ssh('command -v udevadm')).code, 0, 'the test master has no udevadm');
    await waitConnected(agentNames());
  });
  it('a second run changes nothing', { timeout: 600_000 }, async () => {
    const run = await playbook();
    console.log(`second run: ${run.ms} ms`);
    assert.equal(run.status, 0, run.out);
    expectAllUnchanged(run);
  });

  it('--check --diff on the unchanged fleet changes nothing (no pin drift)', {
    timeout: 600_000,
  }, async () => {
    const run = await playbook(['--check', '--diff']);
    console.log(`check run: ${run.ms} ms`);
    assert.equal(run.status, 0, run.out);
    assert.doesNotMatch(run.out, /fingerprint: sha256:\s*$/m, run.out);
    expectAllUnchanged(run);
  });

  it('--limit one agent runs on that agent alone', { timeout: 600_000 }, async () => {
    const run = await playbook(['--limit', 'app1']);
    console.log(`limited run: ${run.ms} ms`);
    assert.equal(run.status, 0, run.out);
    assert.deepEqual([...run.recap.keys()], ['app1'], run.out);
    assert.equal(run.recap.get('app1')?.changed, 0, run.out);
    assert.match(
      await host('app1')
        .ssh('cat /etc/upsfleet/agent.yaml')
        .then((r) => r.out),
      /sha256:[0-9a-f]{64}/,
    );
  });

  it('upsfleet is on the master PATH and reads the fleet there', { timeout: 120_000 }, async () => {
    const fp = await fingerprint();
    const out = await onMaster(
      `command -v upsfleet && upsfleet status --fingerprint ${fp} https://127.0.0.1:${PORT}`,
    );
    assert.match(out, /^\/usr\/local\/bin\/upsfleet$/m, out);
    assert.match(out, /ups\.status: OL/, out);
    for (const name of agentNames()) assert.match(out, new RegExp(`\\b${name}\\b.*\\byes\\b`), out);
  });

  it('source usbhid: node-hid is installed beside the CLI and the master starts with it', {
    timeout: 600_000,
  }, async () => {
    vars.upsfleet_master_source = { type: 'usbhid' };
    const run = await playbook();
    assert.equal(run.status, 0, run.out);
    const load = await onMaster(
      "cd /usr/local/lib/upsfleet && node -e \"const h=require('node-hid'); h.setDriverType('hidraw'); console.log('devices', h.devices().length)\"",
    );
    assert.match(load, /^devices \d+$/m, load);
    // no UPS in a container, but the source loads: the master is up, not failed on a missing node-hid
    await new Promise((r) => setTimeout(r, 3000));
    const state = await host(MASTER).ssh('systemctl is-active upsfleet-master');
    assert.equal(
      state.out.trim(),
      'active',
      `${state.out}\n${(await host(MASTER).ssh('journalctl -u upsfleet-master --no-pager -n 30')).out}`,
    );
  });

  it("journald on the host stores each line under the unit's identifier with its pino level as priority", {
    timeout: 120_000,
  }, async () => {
    // the usbhid master on a host without a UPS has warned (no device) beside its info lines
    const entries = (await onMaster('journalctl -u upsfleet-master -o json --no-pager -n 400'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { SYSLOG_IDENTIFIER?: string; PRIORITY?: string; MESSAGE?: unknown })
      .filter((e) => typeof e.MESSAGE === 'string' && e.MESSAGE.startsWith('{"level":'));
    assert.ok(entries.length > 0, 'no pino lines in the journal');
    const syslog: Record<number, string> = { 60: '2', 50: '3', 40: '4', 30: '6', 20: '7', 10: '7' };
    for (const e of entries) {
      const level = (JSON.parse(e.MESSAGE as string) as { level: number }).level;
      assert.equal(e.SYSLOG_IDENTIFIER, 'upsfleet-master', JSON.stringify(e));
      assert.equal(e.PRIORITY, syslog[level], `level ${level} stored as priority ${e.PRIORITY}`);
    }
    assert.ok(
      entries.some((e) => e.PRIORITY === '4'),
      `no warning among ${entries.length} lines: ${entries.map((e) => e.MESSAGE).join('\n')}`,
    );
    const warnings = await onMaster('journalctl -u upsfleet-master -p warning -o cat --no-pager -n 400');
    assert.match(warnings, /"level":40/, warnings);
    assert.doesNotMatch(warnings, /"level":30/, 'journalctl -p warning shows info lines');
  });

  it('a master whose source cannot be loaded at all leaves its unit failed (exit 8), not active or restarting', {
    timeout: 180_000,
  }, async () => {
    const nodeHid = '/usr/local/lib/upsfleet/node_modules/node-hid';
    await onMaster(`mv ${nodeHid} /root/node-hid.away && systemctl restart upsfleet-master || true`);
    try {
      let show = '';
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        show = await onMaster(
          'systemctl show -p ActiveState -p ExecMainStatus -p NRestarts upsfleet-master; systemctl is-failed upsfleet-master || true',
        );
        if (/^ActiveState=failed$/m.test(show)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.match(show, /^ActiveState=failed$/m, show);
      assert.match(show, /^ExecMainStatus=8$/m, show);
      assert.match(show, /^NRestarts=0$/m, 'systemd restarted a master that cannot load its source');
      const why = await onMaster('journalctl -u upsfleet-master -p err -o cat --no-pager -n 20');
      assert.match(why, /HID_UNAVAILABLE/, why);
    } finally {
      await onMaster(`mv /root/node-hid.away ${nodeHid} && systemctl restart upsfleet-master`);
    }
  });

  it('the master role configures the NUT server, hooks, killpower and its own TLS certificate', {
    timeout: 600_000,
  }, async () => {
    vars.upsfleet_master_source = {
      type: 'simulated',
      script: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
    };
    const certDir = join(work, 'own-cert');
    spawnSync('mkdir', ['-p', certDir]);
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '30',
        '-subj',
        `/CN=${MASTER}`,
        '-addext',
        `subjectAltName=DNS:${MASTER},IP:${host(MASTER).address}`,
        '-keyout',
        join(certDir, 'master.key'),
        '-out',
        join(certDir, 'master.crt'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    const before = await fingerprint();
    Object.assign(vars, {
      upsfleet_master_nut: {
        listen: '0.0.0.0:3493',
        users: [{ name: 'monuser', password: 'secret', upsmon: 'secondary' }],
      },
      upsfleet_master_hooks: [{ name: 'flush', run: 'sync', timeout: '10s' }],
      upsfleet_master_killpower: 'load.off.delay',
      upsfleet_master_tls_cert_src: join(certDir, 'master.crt'),
      upsfleet_master_tls_key_src: join(certDir, 'master.key'),
    });
    const run = await playbook();
    assert.equal(run.status, 0, run.out);
    const config = await onMaster('cat /etc/upsfleet/master.yaml');
    assert.match(config, /killpower: load\.off\.delay/, config);
    assert.match(config, /run: sync/, config);
    assert.match(config, /listen: 0\.0\.0\.0:3493/, config);
    assert.match(config, /cert: \/etc\/upsfleet\/master\.crt/, config);
    const after = await fingerprint();
    assert.notEqual(after, before, 'the agents pin the new certificate');
    for (const name of agentNames())
      assert.match((await host(name).ssh('cat /etc/upsfleet/agent.yaml')).out, new RegExp(after));
    await waitConnected(agentNames());
    const nut = await nutAsk(host(MASTER).address, 3493, 'LIST UPS\n');
    assert.match(nut, /^UPS ups /m, nut);
    // and the next run keeps it all: nothing reverted, nothing changed
    expectAllUnchanged(await playbook());
  });

  it('adding a host: it gets its token, the master learns it, it connects', {
    timeout: 600_000,
  }, async () => {
    await fleet.add([{ name: 'app2' }]);
    layout.agents.app = ['app1', 'app2'];
    const run = await playbook();
    console.log(`run with a host added: ${run.ms} ms`);
    assert.equal(run.status, 0, run.out);
    assert.ok((run.recap.get('app2')?.changed ?? 0) > 0, run.out);
    assert.equal(run.recap.get('db1')?.changed, 0, run.out);
    assert.match(await onMaster('cat /etc/upsfleet/master.yaml'), /id: app2/);
    await waitConnected(agentNames());
  });

  it('the roles install the Debian package instead of copying files, and a second run changes nothing', {
    timeout: 600_000,
  }, async () => {
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build-deb.mjs'), join(work, 'deb')], {
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    vars.upsfleet_deb_src = built.stdout.trim();
    const run = await playbook();
    console.log(`run switching to the package: ${run.ms} ms`);
    assert.equal(run.status, 0, run.out);
    for (const name of [MASTER, ...agentNames()]) {
      const unit = name === MASTER ? 'upsfleet-master' : 'upsfleet-agent';
      const r = await host(name).ssh(
        `dpkg-query -W -f='\${Status}\n' upsfleet; systemctl show -p FragmentPath -p UnitFileState ${unit}; ls /usr/local/lib/upsfleet`,
      );
      assert.match(r.out, /^install ok installed$/m, `${name}: ${r.out}`);
      // the package's own unit runs it (the copied one in /etc is gone), still enabled
      assert.match(
        r.out,
        new RegExp(`^FragmentPath=(/usr)?/lib/systemd/system/${unit}\\.service$`, 'm'),
        r.out,
      );
      assert.match(r.out, /^UnitFileState=enabled$/m, `${name}: ${r.out}`);
      assert.doesNotMatch(r.out, /\.cjs/, `${name}: the copied program stayed: ${r.out}`);
    }
    assert.match(await onMaster('command -v upsfleet'), /^\/usr\/bin\/upsfleet$/m);
    await waitConnected(agentNames());
    // plain status on the master host, as the README's quick start says (the host's master.yaml names it)
    const plain = await asDeployOnMaster('sudo upsfleet status');
    for (const name of agentNames()) assert.match(plain, new RegExp(`\\b${name}\\b.*\\byes\\b`), plain);
    expectAllUnchanged(await playbook());
  });

  it('a drill from the master host (plain upsfleet drill with the admin token) passes and powers nothing off', {
    timeout: 300_000,
  }, async () => {
    const out = await asDeployOnMaster(
      'sudo sh -c "UPSFLEET_ADMIN_TOKEN=\\$(cat /etc/upsfleet/tokens/admin.token) upsfleet drill --json"',
    );
    const report = JSON.parse(out.slice(out.indexOf('{'))) as { ok: boolean; hosts: Array<{ id: string }> };
    assert.equal(report.ok, true, out);
    assert.deepEqual(report.hosts.map((h) => h.id).sort(), [...agentNames()].sort(), out);
    for (const name of [MASTER, ...agentNames()]) assert.ok(host(name).running, `${name} stopped in a drill`);
    await waitConnected(agentNames());
  });

  it('the master host reboots and the fleet reconnects', { timeout: 300_000 }, async () => {
    const m = host(MASTER);
    const boots = m.boots;
    await m.ssh('systemctl reboot');
    await m.waitBooted(boots + 1, 120_000);
    assert.deepEqual(m.exits.slice(-1), [133]);
    assert.equal((await onMaster('systemctl is-active upsfleet-master')).trim(), 'active');
    await waitConnected(agentNames(), 150_000);
  });

  it('a real power-off: the agent hosts go down in sequence order, the master records each confirmed down', {
    timeout: 300_000,
  }, async () => {
    const token = (await onMaster('cat /etc/upsfleet/tokens/admin.token')).trim();
    const fp = await fingerprint();
    await onMaster(
      `UPSFLEET_ADMIN_TOKEN=${token} upsfleet simulate --fingerprint ${fp} --master https://127.0.0.1:${PORT} set ups.status 'OB LB'`,
    );
    await Promise.all(agentNames().map((n) => host(n).waitPoweredOff(180_000)));
    for (const n of agentNames()) assert.equal(host(n).running, false, `${n} still running`);
    assert.ok(host(MASTER).running, 'the master host (dry-run) stays up');

    let status: StatusJson | undefined;
    const until = Date.now() + 60_000;
    for (;;) {
      status = await masterStatus();
      const steps = status.sequence.steps?.filter(isAgentStep) ?? [];
      if (steps.length >= 2 && steps.every((s) => s.endedBy !== null)) break;
      if (Date.now() > until) assert.fail(`the sequence did not end: ${JSON.stringify(status.sequence)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const steps = status.sequence.steps!.filter(isAgentStep);
    assert.deepEqual(
      steps.map((s) => [s.groups, s.endedBy]),
      [
        [['app'], 'confirmed'],
        [['db'], 'confirmed'],
      ],
    );
    const members = steps.flatMap((s) => s.members);
    for (const m of members) {
      assert.equal(m.state, 'down', JSON.stringify(m));
      assert.equal(m.dryRun, false, JSON.stringify(m));
    }
    const downAt = (id: string) => members.find((m) => m.id === id)!.downAt!;
    assert.ok(downAt('app1') <= downAt('db1') && downAt('app2') <= downAt('db1'), JSON.stringify(members));
  });
});

/** The inventory's steps (the master also lists the NUT server's `@secondaries` step, empty here). */
function isAgentStep(s: { index: number | null; groups: string[] }): boolean {
  return s.index !== null && s.groups.some((g) => g === 'app' || g === 'db');
}

function nutAsk(host: string, port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = connect(port, host, () => s.write(request));
    s.setTimeout(10_000, () => s.destroy(new Error(`NUT server at ${host}:${port} silent`)));
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (/END LIST UPS|^ERR /m.test(text)) s.end();
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
  });
}
