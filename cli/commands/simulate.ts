/**
 * `upsfleet simulate --master URL set NAME VALUE` and `upsfleet simulate --master URL fsd [REASON]`:
 * live changes on a master's simulated UPS, admin only (token from --token or UPSFLEET_ADMIN_TOKEN).
 */
import { parseArgs } from 'node:util';
import { type CommandHandler, ExitCodes } from './command.js';
import { FINGERPRINT_OPTION, plaintextRefusal, postAdmin, useFingerprint } from './master-client.js';

export const simulateCommand: CommandHandler = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { master: { type: 'string', short: 'm' }, token: { type: 'string' }, ...FINGERPRINT_OPTION },
    allowPositionals: true,
    strict: true,
  });
  useFingerprint(values.fingerprint);
  const master = values.master ?? 'http://127.0.0.1:8740';
  const token = values.token ?? process.env.UPSFLEET_ADMIN_TOKEN;
  if (!token) {
    io.stderr('upsfleet simulate: an admin token is required (--token or UPSFLEET_ADMIN_TOKEN)\n');
    return ExitCodes.USAGE;
  }
  const refused = plaintextRefusal('simulate', master, io);
  if (refused !== null) return refused;
  const [action, ...args] = positionals;
  if (action === 'set' && args.length === 2) {
    return postAdmin(master, '/api/simulate', token, { name: args[0], value: args[1] }, io);
  }
  if (action === 'fsd' && args.length <= 1) {
    return postAdmin(master, '/api/fsd', token, args[0] ? { reason: args[0] } : {}, io);
  }
  io.stderr('usage: upsfleet simulate [--master URL] [--token T] set NAME VALUE | fsd [REASON]\n');
  return ExitCodes.USAGE;
};
