// The Node.js flags the agent runs with, read from its unit's ExecStart (deploy/systemd/upsfleet-agent.service),
// the one place they are written: the bundle's #! line and the Debian package's wrapper use the same ones.
import { readFileSync } from 'node:fs';

const UNIT = new URL('../deploy/systemd/upsfleet-agent.service', import.meta.url);

export function agentNodeFlags(unitText = readFileSync(UNIT, 'utf8')) {
  const exec = /^ExecStart=(.*)$/m.exec(unitText)?.[1] ?? '';
  const words = exec.trim().split(/\s+/);
  const node = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  const script = words.findIndex((w) => w.endsWith('.cjs'));
  if (node < 0 || script <= node) throw new Error(`${UNIT.pathname}: ExecStart runs no node script: ${exec}`);
  return words.slice(node + 1, script);
}
