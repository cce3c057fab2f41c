/**
 * Logs that journald understands. When a unit's stdout is connected to the journal, systemd sets
 * JOURNAL_STREAM to that stream's `device:inode`; a line written there may start with a syslog priority
 * `<N>` (SyslogLevelPrefix=yes, systemd's default), which journald strips and stores as PRIORITY=N, so
 * `journalctl -p warning` finds the warnings. Without it every line is priority 6 (info).
 */
import { fstatSync } from 'node:fs';

/** True when fd is the very stream systemd connected to the journal (not a pipe a child inherited it through). */
export function isJournalStream(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!match) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(match[1] as string) && st.ino === BigInt(match[2] as string);
  } catch {
    return false;
  }
}

/** pino's numeric level to a syslog priority: fatal 2 (crit), error 3, warn 4, info 6, debug and trace 7. */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

/** Prefixes one serialized pino line (`{"level":40,...}\n`) with its `<N>`; other text goes through as it is. */
export function withSyslogPrefix(line: string): string {
  const match = /^\{"level":(\d+)/.exec(line);
  return match ? `<${syslogPriority(Number(match[1]))}>${line}` : line;
}
