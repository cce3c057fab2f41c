/**
 * The pino logger factory. JSON, object first: `log.warn({ err, agentId }, 'message')`.
 * Secrets are redacted by path wherever they appear. `sync: true` gives a synchronous destination,
 * used on the shutdown path so the last lines reach the disk before power-off.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  '*.*.token',
  'password',
  '*.password',
  '*.*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  // notify.urls: service URLs carry tokens (log ServiceTarget.redacted instead)
  'urls',
  '*.urls',
  '*.*.urls',
  'req.headers.authorization',
];

export interface LoggerOptions {
  name: string;
  level?: string;
  /** File descriptor or path; default stdout (fd 1). */
  destination?: number | string;
  sync?: boolean;
  stream?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const stream =
    opts.stream ??
    pino.destination({
      dest: opts.destination ?? 1,
      sync: opts.sync ?? false,
      mkdir: typeof opts.destination === 'string',
    });
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.UPSFLEET_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    stream,
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
