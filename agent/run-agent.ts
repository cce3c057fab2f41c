/**
 * `upsfleet agent -c FILE`: run an agent until SIGINT/SIGTERM. Logs are written synchronously: the
 * agent logs little, and on the shutdown path a buffered line would be lost with the power.
 */
import type { AgentSettings } from '../shared/config/agent-settings.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { SdNotify } from '../shared/systemd/sd-notify.js';
import { Agent, type AgentOptions } from './agent.js';

export interface RunAgentOptions extends AgentOptions {
  /** Resolves/aborts the run without a signal (tests, embedding). */
  signal?: AbortSignal;
  /** systemd notifications (READY/WATCHDOG/STOPPING); default from NOTIFY_SOCKET. */
  sd?: SdNotify;
}

export function agentLogger(settings: AgentSettings): Logger {
  return createLogger({
    name: 'upsfleet-agent',
    level: settings.log.level,
    destination: settings.log.file ?? 1,
    sync: true,
  });
}

/** Runs the agent; resolves once it has stopped after SIGINT/SIGTERM (or opts.signal). */
export async function runAgent(settings: AgentSettings, opts: RunAgentOptions = {}): Promise<void> {
  const logger = opts.logger ?? agentLogger(settings);
  const agent = new Agent(settings, { ...opts, logger });
  const sd = opts.sd ?? new SdNotify({ logger });
  // the agent's own timers are unref'd; this keeps the process alive while it waits to reconnect
  const keepAlive = setInterval(() => {}, 1 << 30);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ why }, 'stopping the agent');
      void sd.stopping();
      agent
        .stop()
        .catch((err: unknown) => logger.error({ err }, 'error while stopping the agent'))
        .finally(() => {
          process.off('SIGINT', onSigint);
          process.off('SIGTERM', onSigterm);
          opts.signal?.removeEventListener('abort', onAbort);
          clearInterval(keepAlive);
          resolve();
        });
    };
    const onSigint = () => stop('SIGINT');
    const onSigterm = () => stop('SIGTERM');
    const onAbort = () => stop('aborted');
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    opts.signal?.addEventListener('abort', onAbort);
    try {
      agent.start();
    } catch (err) {
      logger.error({ err }, 'the agent could not start');
      stop('start failed');
      return;
    }
    // ready once started: the agent keeps (re)connecting on its own, so waiting for the master would only
    // make systemd time the unit out while the master is away
    void sd.ready(`agent ${settings.id} (group ${settings.group})`);
    if (opts.signal?.aborted) stop('aborted');
  });
}
