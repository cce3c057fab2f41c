/** `upsfleet completion bash`: the bash completion script, generated from the command table. */
import { bashCompletion } from '../docs/bash-completion.js';
import { type CommandHandler, ExitCodes } from './command.js';

export const completionCommand: CommandHandler = async (argv, io) => {
  if (argv.length !== 1 || argv[0] !== 'bash') {
    io.stderr('usage: upsfleet completion bash\n');
    return ExitCodes.USAGE;
  }
  io.stdout(bashCompletion());
  return ExitCodes.OK;
};
