/**
 * Crash at a named point, for process-level recovery tests (as etcd's failpoints do): with
 * `UPSFLEET_CRASH_AFTER=<kind>[:<event>][#<n>]` the master kills itself with SIGKILL right after the
 * n-th journal record of that kind (and sequence event) is written, so a test can stop it exactly
 * between two decisions. Unset, it costs one comparison per record.
 */
import { writeSync } from 'node:fs';
import type { StoredRecord } from './journal-line.js';

export interface CrashPoint {
  kind: string;
  event: string | null;
  nth: number;
}

export function parseCrashPoint(spec: string | undefined): CrashPoint | null {
  const m = spec ? /^([a-z-]+)(?::([a-z-]+))?(?:#(\d+))?$/.exec(spec.trim()) : null;
  if (!m) return null;
  return { kind: m[1]!, event: m[2] ?? null, nth: m[3] ? Number(m[3]) : 1 };
}

/** A record listener that SIGKILLs this process at the crash point (null when none is set). */
export function crashAfter(point: CrashPoint | null): ((record: StoredRecord) => void) | null {
  if (!point) return null;
  let seen = 0;
  return (record) => {
    if (record.kind !== point.kind) return;
    if (point.event !== null && record.event !== point.event) return;
    if (++seen < point.nth) return;
    writeSync(
      2,
      `upsfleet failpoint: crashing after journal record ${record.seq} (${point.kind}${point.event ? `:${point.event}` : ''} #${point.nth})\n`,
    );
    process.kill(process.pid, 'SIGKILL');
  };
}
