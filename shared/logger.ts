/**
 * The pino logger factory. JSON, object first: `log.warn({ err, agentId }, 'message')`.
 * Secrets are redacted by path wherever they appear. `sync: true` gives a synchronous destination,
 * used on the shutdown path so the last lines reach the disk before power-off.
 * On stdout the format follows what reads it (stdoutLogFormat): journald gets each JSON line with its syslog
 * priority, a terminal gets pino-pretty's text, pipes and files plain JSON lines.
 */
import { isatty } from 'node:tty';
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { isJournalStream, withSyslogPrefix } from './systemd/journal-stream.js';

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
  /** Format on stdout; default stdoutLogFormat(). Files and given streams always get plain JSON. */
  format?: LogFormat;
}

/**
 * json: one JSON object a line. journal: the same line after a `<N>` syslog priority, which journald turns into
 * the entry's PRIORITY. pretty: pino-pretty's coloured text, for a person at a terminal.
 */
export type LogFormat = 'json' | 'journal' | 'pretty';

/** UPSFLEET_LOG_FORMAT wins; else the journal when stdout is systemd's journal stream, pretty on a terminal, JSON otherwise. */
export function stdoutLogFormat(env: NodeJS.ProcessEnv = process.env, fd = 1): LogFormat {
  const forced = env.UPSFLEET_LOG_FORMAT;
  if (forced === 'json' || forced === 'journal' || forced === 'pretty') return forced;
  if (isJournalStream(env, fd)) return 'journal';
  return isatty(fd) ? 'pretty' : 'json';
}

export function createLogger(opts: LoggerOptions): Logger {
  const toStdout = opts.stream === undefined && (opts.destination ?? 1) === 1;
  const format = toStdout ? (opts.format ?? stdoutLogFormat()) : 'json';
  const stream =
    opts.stream ??
    (format === 'pretty'
      ? pretty({
          destination: 1,
          sync: opts.sync ?? false,
          colorize: isatty(1),
          translateTime: 'SYS:standard',
          ignore: 'pid,hostname',
        })
      : pino.destination({
          dest: opts.destination ?? 1,
          sync: opts.sync ?? false,
          mkdir: typeof opts.destination === 'string',
        }));
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.UPSFLEET_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(format === 'journal' ? { hooks: { streamWrite: withSyslogPrefix } } : {}),
    },
    stream,
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
