/** `upsfleet config check FILE`: validates a master or agent config and prints every problem with file:line:column. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadAgentSettings } from '../../shared/config/agent-settings.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { isUpsfleetError } from '../../shared/errors.js';
import { type CommandHandler, ExitCodes } from './command.js';

function kindOf(file: string): 'master' | 'agent' | null {
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

export const configCheckCommand: CommandHandler = async (argv, io) => {
  const [sub, file, ...rest] = argv;
  if (sub !== 'check' || !file || rest.length > 0) {
    io.stderr('usage: upsfleet config check FILE\n');
    return ExitCodes.USAGE;
  }
  const kind = kindOf(file) ?? 'master';
  try {
    if (kind === 'agent') loadAgentSettings(file);
    else loadMasterSettings(file);
  } catch (err) {
    if (isUpsfleetError(err) && err.code.startsWith('CONFIG_')) {
      io.stderr(`${err.message}\n`);
      return ExitCodes.CONFIG;
    }
    throw err;
  }
  io.stdout(`${file}: valid ${kind} configuration\n`);
  return ExitCodes.OK;
};
