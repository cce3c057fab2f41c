/** Keeps a daemon running until SIGINT/SIGTERM, then stops it once, with a hard exit deadline. */
import type { Logger } from 'pino';

const HARD_EXIT_MS = 10_000;

export function runUntilSignal(logger: Logger, stop: () => Promise<void>): Promise<void> {
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
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
