/**
 * `upsfleet status [--json] [--master URL | URL | -c FILE]`: the UPS variables as upsc prints them, then the
 * fleet per group. The master is --master or URL (http(s)://host:port, default http://127.0.0.1:8740), or the
 * one a master or agent configuration names (-c: URL and pinned fingerprint). `status ups@host[:port] [VAR]`
 * reads a NUT server like upsc. Options are the command table's (cli/command-specs.ts).
 */
import { parseArgs } from 'node:util';
import { formatUpscLines, type UpsVars } from '../../shared/nut/ups-state.js';
import { table } from '../format/table.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { FINGERPRINT_OPTION, getStatus, httpBase, useFingerprint } from './master-client.js';
import { hostMaster, masterFromConfig } from './master-from-config.js';

const USAGE = `usage: upsfleet status [--json] [--master URL | URL] [-c FILE] [--fingerprint FP]
       upsfleet status [--json] UPS@HOST[:PORT] [VARIABLE]
`;
const NUT_ADDRESS = /^[^/:@]+@[^/]+$/;
interface AgentRow {
  id: string;
  kind: string;
  group: string;
  connected: boolean;
  lastSeen: number | null;
  version: string | null;
  dryRun: boolean;
  /** An SSH target's user@host:port (shown where an agent's version would be). */
  address?: string | null;
}

function ago(ts: number | null, now: number): string {
  if (ts === null) return 'never';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

export function formatFleetTable(agents: AgentRow[], now: number): string {
  const rows = [['GROUP', 'AGENT', 'KIND', 'CONNECTED', 'LAST SEEN', 'VERSION']];
  for (const a of [...agents].sort((x, y) => x.group.localeCompare(y.group) || x.id.localeCompare(y.id))) {
    rows.push([
      a.group,
      a.id,
      a.kind,
      a.connected ? (a.dryRun ? 'yes (dry-run)' : 'yes') : 'no',
      ago(a.lastSeen, now),
      a.version ?? (a.kind === 'ssh' && a.address ? a.address : '-'),
    ]);
  }
  return table(rows);
}

/** One line per group in sequence order: its step and how many of its members are connected. */
export function formatGroupSummary(
  agents: AgentRow[],
  steps: Array<{ index: number | null; groups: string[] }>,
): string {
  const stepOf = new Map<string, number>();
  for (const s of steps) for (const g of s.groups) if (s.index !== null) stepOf.set(g, s.index);
  const groups = [...new Set([...stepOf.keys(), ...agents.map((a) => a.group)])].sort(
    (a, b) =>
      (stepOf.get(a) ?? Number.MAX_SAFE_INTEGER) - (stepOf.get(b) ?? Number.MAX_SAFE_INTEGER) ||
      a.localeCompare(b),
  );
  return groups
    .map((g) => {
      const members = agents.filter((a) => a.group === g);
      const up = members.filter((a) => a.connected).length;
      const step = stepOf.get(g);
      return `${g}: ${step === undefined ? 'early/unsequenced' : `step ${step}`}, ${up}/${members.length} connected${up < members.length ? ' (MISSING)' : ''}`;
    })
    .join('\n');
}

function formatPlanLine(
  plan: { fits: boolean | null; spareMs: number | null; requiredMs: number } | undefined,
): string {
  if (!plan) return '';
  const need = `${Math.round(plan.requiredMs / 1000)}s`;
  if (plan.fits === null) return `battery plan: sequence needs ${need}; battery.runtime unknown\n`;
  const spare = Math.round(Math.abs(plan.spareMs ?? 0) / 1000);
  return plan.fits
    ? `battery plan: fits (sequence ${need}, ${spare}s to spare beyond the margin)\n`
    : `battery plan: DOES NOT FIT (sequence ${need}, ${spare}s short): see upsfleet plan\n`;
}

export const statusCommand: CommandHandler = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      master: { type: 'string', short: 'm' },
      config: { type: 'string', short: 'c' },
      ...FINGERPRINT_OPTION,
    },
    allowPositionals: true,
    strict: true,
  });
  const [first, variable, ...extra] = positionals;
  if (first !== undefined && NUT_ADDRESS.test(first)) {
    if (extra.length > 0 || values.master !== undefined || values.config !== undefined) {
      io.stderr(USAGE);
      return ExitCodes.USAGE;
    }
    const { readNutUps } = await import('./nut-status.js');
    return readNutUps(first, io, { json: values.json ?? false, ...(variable ? { variable } : {}) });
  }
  const named = [first, values.master].filter((t) => t !== undefined);
  if (positionals.length > 1 || named.length > 1) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  // nothing named: on a master host its own config says where it listens and which certificate it shows
  const fromConfig =
    values.config !== undefined
      ? masterFromConfig(values.config)
      : named.length === 0
        ? hostMaster()
        : undefined;
  useFingerprint(values.fingerprint ?? fromConfig?.fingerprint);
  const target = named[0] ?? fromConfig?.url ?? 'http://127.0.0.1:8740';
  let status: Record<string, unknown>;
  try {
    status = await getStatus(target);
  } catch (err) {
    io.stderr(`cannot read the master's status at ${httpBase(target)}: ${(err as Error).message}\n`);
    return ExitCodes.UNREACHABLE;
  }
  if (values.json) {
    io.stdout(`${JSON.stringify(status, null, 2)}\n`);
    return ExitCodes.OK;
  }
  const ups = status.ups as { vars: UpsVars; stale: boolean };
  const policy = status.policy as { critical: boolean; reason: string | null };
  const sequence = status.sequence as { state?: string };
  io.stdout(`${formatUpscLines(ups.vars)}\n\n`);
  io.stdout(
    `policy: ${policy.critical ? `CRITICAL (${policy.reason})` : 'normal'}${ups.stale ? ', source not communicating' : ''}; sequence: ${sequence.state ?? 'idle'}\n\n`,
  );
  io.stdout(`${formatFleetTable(status.agents as AgentRow[], Date.now())}\n\n`);
  const steps =
    (status.sequence as { steps?: Array<{ index: number | null; groups: string[] }> }).steps ?? [];
  io.stdout(`${formatGroupSummary(status.agents as AgentRow[], steps)}\n`);
  io.stdout(formatPlanLine(status.plan as Parameters<typeof formatPlanLine>[0]));
  return ExitCodes.OK;
};
