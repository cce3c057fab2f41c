/**
 * `upsfleet status ups@host[:port] [VARIABLE]`: reads a UPS from any NUT server (upsd, or an upsfleet master's
 * NUT server) and prints it like `upsc` does (`name: value`, sorted; with VARIABLE its value alone), or as JSON.
 */

import { parseNutAddress } from '../../master/nut/client/nut-address.js';
import { NutClient, nutErrorCode } from '../../master/nut/client/nut-client.js';
import { isUpsfleetError } from '../../shared/errors.js';
import { formatUpscLines } from '../../shared/nut/ups-state.js';
import { type CommandIo, ExitCodes } from './command.js';

/** upsc's wording for the errors a user meets most. */
const MESSAGES: Record<string, string> = {
  'UNKNOWN-UPS': 'Unknown UPS',
  'DATA-STALE': 'Data stale',
  'DRIVER-NOT-CONNECTED': 'Driver not connected',
  'ACCESS-DENIED': 'Access denied',
};

export async function readNutUps(
  address: string,
  io: CommandIo,
  opts: { json?: boolean; variable?: string } = {},
): Promise<number> {
  let target: ReturnType<typeof parseNutAddress>;
  try {
    target = parseNutAddress(address);
  } catch (err) {
    io.stderr(`${(err as Error).message}\n`);
    return ExitCodes.USAGE;
  }
  let client: NutClient;
  try {
    client = await NutClient.connect({ host: target.host, port: target.port, timeoutMs: 5000 });
  } catch (err) {
    io.stderr(`Error: ${(err as Error).message}\n`);
    return ExitCodes.UNREACHABLE;
  }
  try {
    const vars = await client.listVars(target.ups);
    if (opts.variable !== undefined) {
      // as upsc UPS VAR: the bare value; a variable the UPS lacks is an error
      const value = vars[opts.variable];
      if (value === undefined) {
        io.stderr(`Error: Variable not supported by UPS\n`);
        return ExitCodes.FAILURE;
      }
      io.stdout(opts.json ? `${JSON.stringify({ [opts.variable]: value })}\n` : `${value}\n`);
      return ExitCodes.OK;
    }
    if (opts.json)
      io.stdout(
        `${JSON.stringify({ ups: target.ups, host: target.host, port: target.port, vars }, null, 2)}\n`,
      );
    else io.stdout(`${formatUpscLines(vars)}\n`);
    return ExitCodes.OK;
  } catch (err) {
    const code = nutErrorCode(err);
    if (code !== undefined) io.stderr(`Error: ${MESSAGES[code] ?? code}\n`);
    else io.stderr(`Error: ${(err as Error).message}\n`);
    return code === undefined && isUpsfleetError(err, 'SOURCE_LOST')
      ? ExitCodes.UNREACHABLE
      : ExitCodes.FAILURE;
  } finally {
    await client.close();
  }
}
