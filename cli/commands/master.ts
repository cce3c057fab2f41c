/** `upsfleet master -c FILE`: runs the master until SIGINT/SIGTERM; SIGHUP reloads its config. */
import { parseArgs } from 'node:util';
import { Master } from '../../master/master.js';
import { ConfigReloader, type ReloadTargets } from '../../master/reload/reloader.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { createLogger } from '../../shared/logger.js';
import { SdNotify } from '../../shared/systemd/sd-notify.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { ignoreHangupWhileStarting, runUntilSignal } from './run-until-signal.js';

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
  const stopIgnoringHangup = ignoreHangupWhileStarting(logger);
  const master = new Master(settings, { logger });
  try {
    await master.start();
  } catch (err) {
    // at fatal level: journald files it as priority 2, and the unit ends failed, not active
    logger.fatal({ err }, 'the master could not start');
    await master.stop();
    throw err;
  }
  const reloader = new ConfigReloader({
    settings,
    targets: reloadTargets(master),
    onReloaded: (result) => master.journalReload(result),
  });
  const sd = new SdNotify({ logger });
  await sd.ready(`serving ${master.settings.ups.name}, ${master.steps.length} steps`);
  const running = runUntilSignal(
    logger,
    async () => {
      await sd.stopping();
      await master.stop();
    },
    { reload: () => reloader.reload() },
  );
  stopIgnoringHangup(); // runUntilSignal's own SIGHUP handler is in place: no gap
  await running;
  return ExitCodes.OK;
};

/** What a reload swaps in a started master. */
function reloadTargets(master: Master): ReloadTargets {
  return {
    logger: master.logger,
    tokens: master.tokens,
    notifier: master.ops.notifier,
    nutServer: () => master.nutServer,
  };
}
