/** `upsfleet init master -c FILE`: the master's key and certificate (keygen) and an empty tokens file. */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeTokens } from '../../master/auth/token-store.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { keygenCommand } from './keygen.js';

export const initCommand: CommandHandler = async (argv, io) => {
  const [what, ...rest] = argv;
  if (what !== 'master') {
    io.stderr('usage: upsfleet init master -c FILE [--name HOST]...\n');
    return ExitCodes.USAGE;
  }
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, name: { type: 'string', multiple: true } },
    strict: true,
  });
  const config = values.config ?? '/etc/upsfleet/master.yaml';
  const settings = loadMasterSettings(config);
  const code = await keygenCommand(['-c', config, ...(values.name ?? []).flatMap((n) => ['--name', n])], io);
  if (code !== ExitCodes.OK) return code;
  if (!existsSync(settings.tokensFile)) writeTokens(settings.tokensFile, []);
  io.stdout(
    `tokens file: ${settings.tokensFile}\nNext: upsfleet token add AGENT_ID --group GROUP -c ${config}   (once per agent)\n`,
  );
  return ExitCodes.OK;
};
