/** `upsfleet agent -c FILE`: runs an agent until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { runAgent } from '../../agent/run-agent.js';
import { loadAgentSettings } from '../../shared/config/agent-settings.js';
import { type CommandHandler, ExitCodes } from './command.js';

export const agentCommand: CommandHandler = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' } },
    strict: true,
  });
  if (!values.config) {
    io.stderr('upsfleet agent: -c FILE is required (the agent configuration)\n');
    return ExitCodes.USAGE;
  }
  await runAgent(loadAgentSettings(values.config));
  return ExitCodes.OK;
};
