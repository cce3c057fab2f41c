/** `upsfleet token new|hash`: makes a token and the hash that goes into the master config. */
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { type CommandHandler, ExitCodes } from './command.js';

export const tokenCommand: CommandHandler = async (argv, io) => {
  const [sub, arg] = argv;
  if (sub === 'new') {
    const token = generateToken();
    io.stdout(`token:     ${token}\ntokenHash: ${hashToken(token)}\n`);
    io.stdout('Put the token in the agent config (or its tokenFile) and the tokenHash in the master config.\n');
    return ExitCodes.OK;
  }
  if (sub === 'hash' && arg) {
    io.stdout(`${hashToken(arg)}\n`);
    return ExitCodes.OK;
  }
  io.stderr('usage: upsfleet token new | upsfleet token hash TOKEN\n');
  return ExitCodes.USAGE;
};
