/** `upsfleet master -c FILE`: runs the master until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { Master } from '../../master/master.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { createLogger } from '../../shared/logger.js';
import { SdNotify } from '../../shared/systemd/sd-notify.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { runUntilSignal } from './run-until-signal.js';

export const masterCommand: CommandHandler = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' } },
    strict: true,
  });
  if (!values.config) {
    io.stderr('upsfleet master: -c FILE is required (the master configuration)\n');
    return ExitCodes.USAGE;
  }
  const settings = loadMasterSettings(values.config);
  const logger = createLogger({
    name: 'upsfleet-master',
    level: settings.log.level,
    ...(settings.log.file ? { destination: settings.log.file } : {}),
  });
  const master = new Master(settings, { logger });
  try {
    await master.start();
  } catch (err) {
    await master.stop();
    throw err;
  }
  const sd = new SdNotify({ logger });
  await sd.ready(`serving ${master.settings.ups.name}, ${master.steps.length} steps`);
  await runUntilSignal(logger, async () => {
    await sd.stopping();
    await master.stop();
  });
  return ExitCodes.OK;
};
