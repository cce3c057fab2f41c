/**
 * How the benchmark starts an agent: as its systemd unit does (deploy/systemd/upsfleet-agent.service), with
 * the unit's Node.js flags and the one-file bundle, so that the memory measured is the memory deployed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
