/**
 * Runs deploy/ansible/site.yml against the test fleet over SSH, as a user would (`ansible-playbook -i
 * INVENTORY site.yml`), asynchronously: the apt proxy serving the hosts lives in the same process. The
 * PLAY RECAP is parsed per host.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPLOY_USER } from './base-root.js';
import { type HostFleet, sshOptions } from './host-fleet.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ANSIBLE_DIR = join(REPO_ROOT, 'deploy', 'ansible');

export interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
}

export interface PlaybookRun {
  status: number | null;
  out: string;
  recap: Map<string, Recap>;
  ms: number;
}

export function parseRecap(out: string): Map<string, Recap> {
  const recap = new Map<string, Recap>();
  const at = out.lastIndexOf('PLAY RECAP');
  if (at < 0) return recap;
  for (const line of out.slice(at).split('\n')) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const n = (k: string) => Number(new RegExp(`\\b${k}=(\\d+)`).exec(m[2]!)?.[1] ?? 'NaN');
    recap.set(m[1]!, {
      ok: n('ok'),
      changed: n('changed'),
      unreachable: n('unreachable'),
      failed: n('failed'),
      skipped: n('skipped'),
    });
  }
  return recap;
}

export interface FleetLayout {
  master: string;
  /** inventory group (upsfleet_<group>) -> host names */
  agents: Record<string, string[]>;
  /** per-host inventory variables */
  hostVars?: Record<string, Record<string, unknown>>;
}

/** The inventory: every host reached over SSH as the sudo user `deploy` (become: root), by its bridge address. */
export function writeInventory(fleet: HostFleet, layout: FleetLayout, file: string): string {
  const conn = (name: string) => {
    const h = fleet.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in the fleet`);
    return {
      ansible_host: h.address,
      ansible_user: DEPLOY_USER,
      ansible_ssh_private_key_file: fleet.keyFile,
      ansible_ssh_common_args: sshOptions(fleet.keyFile).slice(2).join(' '),
      ansible_python_interpreter: '/usr/bin/python3',
      ...(layout.hostVars?.[name] ?? {}),
    };
  };
  const inventory = {
    all: {
      children: {
        upsfleet_master: { hosts: { [layout.master]: conn(layout.master) } },
        upsfleet_agents: {
          children: Object.fromEntries(
            Object.entries(layout.agents).map(([group, names]) => [
              `upsfleet_${group}`,
              { hosts: Object.fromEntries(names.map((n) => [n, conn(n)])), vars: { upsfleet_group: group } },
            ]),
          ),
        },
      },
    },
  };
  writeFileSync(file, JSON.stringify(inventory, null, 2));
  return file;
}

export function runPlaybook(opts: {
  inventory: string;
  varsFile: string;
  workDir: string;
  args?: string[];
  timeoutMs?: number;
}): Promise<PlaybookRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(
      'ansible-playbook',
      ['-i', opts.inventory, '-e', `@${opts.varsFile}`, ...(opts.args ?? []), join(ANSIBLE_DIR, 'site.yml')],
      {
        cwd: ANSIBLE_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
          ANSIBLE_HOME: join(opts.workDir, '.ansible'),
          ANSIBLE_LOCAL_TEMP: join(opts.workDir, '.ansible-tmp'),
          ANSIBLE_HOST_KEY_CHECKING: 'False',
          ANSIBLE_FORCE_COLOR: '0',
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_PIPELINING: 'True',
        },
      },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGTERM'), opts.timeoutMs ?? 300_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, out, recap: parseRecap(out), ms: Date.now() - started });
    });
  });
}
