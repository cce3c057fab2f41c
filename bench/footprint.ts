/**
 * How the benchmark starts an agent: as its systemd unit does (deploy/systemd/upsfleet-agent.service), with
 * the unit's Node.js flags and the one-file bundle, so that the memory measured is the memory deployed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { privateMiB, rssMiB, sleep } from './measure.js';

const UNIT = fileURLToPath(new URL('../../deploy/systemd/upsfleet-agent.service', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../upsfleet-agent.cjs', import.meta.url));
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** The Node.js flags of the agent unit's ExecStart (between `node` and the script). */
export function agentUnitNodeFlags(unitText = readFileSync(UNIT, 'utf8')): string[] {
  const exec = /^ExecStart=(.*)$/m.exec(unitText)?.[1] ?? '';
  const words = exec.trim().split(/\s+/);
  const node = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  const script = words.findIndex((w) => w.endsWith('.cjs') || w.endsWith('.js'));
  return node >= 0 && script > node ? words.slice(node + 1, script) : [];
}

/** argv to run an agent with this config file: the bundle when built, else the CLI. */
export function agentCommand(configFile: string): string[] {
  const flags = agentUnitNodeFlags();
  return existsSync(BUNDLE)
    ? [process.execPath, ...flags, BUNDLE, '-c', configFile]
    : [process.execPath, ...flags, CLI, 'agent', '-c', configFile];
}

/** The floor: an idle Node.js process doing nothing, started with the agent unit's flags (RSS, private MiB). */
export async function bareNodeMiB(): Promise<{ rss: number; private: number }> {
  const child = spawn(process.execPath, [...agentUnitNodeFlags(), '-e', 'setTimeout(() => {}, 60_000)'], {
    stdio: 'ignore',
  });
  try {
    await sleep(3000);
    return { rss: rssMiB(child.pid!), private: privateMiB(child.pid!) };
  } finally {
    child.kill('SIGKILL');
  }
}
