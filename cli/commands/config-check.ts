/**
 * `upsfleet config check FILE [--against RUNNING]`: validates a master or agent config and prints every
 * problem with file:line:column. With --against (the master config the master runs with), it also says
 * which changes a reload (SIGHUP) applies and which wait for a restart: the reloader's own planner.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { planReload } from '../../master/reload/reload-plan.js';
import { loadAgentSettings } from '../../shared/config/agent-settings.js';
import { loadMasterSettings, type MasterSettings } from '../../shared/config/master-settings.js';
import { isUpsfleetError } from '../../shared/errors.js';
import { type CommandHandler, ExitCodes } from './command.js';

const USAGE = `usage: upsfleet config check FILE [--against RUNNING]
  FILE              a master or agent config: every problem is printed as file:line:column (exit 3)
  --against RUNNING the master config running now: lists which changes from RUNNING to FILE a reload
                    (kill -HUP, systemctl reload upsfleet-master) applies and which need a restart;
                    relative paths in FILE count from RUNNING's directory, as if FILE replaced it
`;

/** Whether FILE is a master or an agent config (null: neither can be told; the loader reports why). */
export function configKind(file: string): 'master' | 'agent' | null {
  try {
    const doc: unknown = parse(readFileSync(file, 'utf8'));
    if (doc && typeof doc === 'object') {
      if ('agent' in doc) return 'agent';
      if ('master' in doc || 'sequence' in doc || 'ups' in doc) return 'master';
    }
  } catch {
    // the loader below reports syntax errors with their position
  }
  return null;
}

function parseCheckArgs(argv: string[]): { help: true } | { file: string; against?: string } | null {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return { help: true };
  if (sub !== 'check') return null;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { against: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return { help: true };
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) return null;
  return { file, ...(values.against !== undefined ? { against: values.against } : {}) };
}

export const configCheckCommand: CommandHandler = async (argv, io) => {
  const args = parseCheckArgs(argv);
  if (!args) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  if ('help' in args) {
    io.stdout(USAGE);
    return ExitCodes.OK;
  }
  const { file, against } = args;
  const kind = configKind(file) ?? 'master';
  if (against !== undefined && kind !== 'master') {
    io.stderr(`upsfleet config check: --against compares master configs; ${file} is an agent config\n`);
    return ExitCodes.USAGE;
  }
  let report: string;
  try {
    report = kind === 'agent' ? checkAgent(file) : checkMaster(file, against);
  } catch (err) {
    if (isUpsfleetError(err) && err.code.startsWith('CONFIG_')) {
      io.stderr(`${err.message}\n`);
      return ExitCodes.CONFIG;
    }
    throw err;
  }
  io.stdout(report);
  return ExitCodes.OK;
};

function checkAgent(file: string): string {
  loadAgentSettings(file);
  return `${file}: valid agent configuration\n`;
}

function checkMaster(file: string, against: string | undefined): string {
  // FILE is to replace RUNNING: its relative paths (stateDir, timeline, ...) count from RUNNING's directory
  const next = loadMasterSettings(file, against);
  const running = against === undefined ? null : loadMasterSettings(against);
  const valid = `${file}: valid master configuration\n`;
  return running ? valid + reloadReport(running, next) : valid;
}

function reloadReport(running: MasterSettings, next: MasterSettings): string {
  const plan = planReload(running, next);
  const lines = [`compared with ${running.file}:`];
  if (plan.apply.length === 0 && plan.restartNeeded.length === 0) lines.push('  no changes');
  if (plan.apply.length > 0)
    lines.push('  applied by a reload (kill -HUP):', ...plan.apply.map((c) => `    ${c.path}`));
  if (plan.restartNeeded.length > 0)
    lines.push('  need a restart:', ...plan.restartNeeded.map((c) => `    ${c.path}`));
  return `${lines.join('\n')}\n`;
}
