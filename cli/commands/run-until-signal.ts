/**
 * Keeps a daemon running until SIGINT/SIGTERM, then stops it once, with a hard exit deadline.
 * SIGHUP (what operators and `systemctl reload` send) reloads and never ends the process: its default
 * action would kill the daemon without a log line, and systemd's Restart=on-failure does not restart
 * a process killed by SIGHUP. While stopping, a SIGHUP is ignored.
 */
import type { Logger } from 'pino';

const HARD_EXIT_MS = 10_000;

export interface RunOptions {
  /** Called on SIGHUP; must not throw. Absent: SIGHUP is logged and ignored. */
  reload?: () => void;
}

export function runUntilSignal(
  logger: Logger,
  stop: () => Promise<void>,
  opts: RunOptions = {},
): Promise<void> {
  return new Promise((resolve) => {
    let shuttingDown = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (shuttingDown) return;
      shuttingDown = true;
      logger.info({ signal }, 'stopping');
      const hard = setTimeout(() => {
        logger.error({ afterMs: HARD_EXIT_MS }, 'did not stop in time, exiting');
        process.exit(1);
      }, HARD_EXIT_MS);
      hard.unref();
      stop()
        .catch((err: unknown) => logger.error({ err }, 'error while stopping'))
        .finally(() => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          resolve();
        });
    };
    // stays installed to the very end: a late SIGHUP must not kill a daemon that is still stopping
    const onHangup = (signal: NodeJS.Signals) => {
      if (shuttingDown) {
        logger.info({ signal }, 'reload ignored: stopping');
        return;
      }
      if (!opts.reload) {
        logger.info({ signal }, 'nothing to reload; signal ignored');
        return;
      }
      logger.info({ signal }, 'reloading the configuration');
      try {
        opts.reload();
      } catch (err) {
        logger.error({ err }, 'reload failed; running on as before');
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onHangup);
  });
}

/**
 * Until runUntilSignal takes over (while the daemon starts), a SIGHUP is logged and ignored instead of
 * killing it. Returns the function that removes this handler.
 */
export function ignoreHangupWhileStarting(logger: Logger): () => void {
  const onHangup = (signal: NodeJS.Signals) =>
    logger.warn({ signal }, 'reload ignored: still starting; send it again once ready');
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}
