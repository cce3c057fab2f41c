/**
 * New connections against the file-descriptor limit (ulimit -n, systemd's LimitNOFILE). At the limit
 * libuv takes and closes waiting connections by itself (its EMFILE trick: no error reaches JavaScript,
 * nothing is logged or counted), and everything else that needs a descriptor fails with EMFILE: a journal
 * segment, a hook's pipes, the power-off command, mDNS's interface scan. So a listener refuses a connection
 * while taking it would leave fewer than `reserve` descriptors: the shutdown path keeps its own.
 *
 * Linux hands out the lowest free descriptor, so an accepted socket numbered within `reserve` of the limit
 * means every descriptor below it is taken: the check costs nothing per connection (no /proc scan). A
 * refusal goes to the listener's rate-limited refusal log (code FD_EXHAUSTED); the first connection taken
 * afterwards logs, once, that the listener accepts again.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Logger } from '../../shared/logger.js';

export interface FdGateOptions {
  /** The soft limit on open descriptors; null when unknown (then only accept errors are seen). */
  limit: number | null;
  /** Descriptors kept free for the master's own work (default fdReserve(limit)). */
  reserve?: number;
  logger: Logger;
  /** Counts and logs one refused connection (the listener's rate-limited refusal log). */
  refuse: (fields: Record<string, unknown>) => void;
}

/** The soft RLIMIT_NOFILE of this process from /proc/self/limits; null when unknown or unlimited. */
export function readFdLimit(file = '/proc/self/limits'): number | null {
  try {
    const m = /^Max open files\s+(\d+)\s/m.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Descriptors kept free: a sixteenth of the limit, at least 16 (a hook or two and a journal segment), at
 * most 64 (a step's worth of SSH and hook children with their pipes).
 */
export function fdReserve(limit: number): number {
  return Math.min(64, Math.max(16, Math.floor(limit / 16)));
}

const FD_ERRNOS = new Set([constants.errno.EMFILE, constants.errno.ENFILE]);

/**
 * EMFILE (this process's limit) or ENFILE (the system's). By code, or by errno number: what
 * os.networkInterfaces() throws is an ERR_SYSTEM_ERROR whose only trace of EMFILE is errno 24.
 */
export function isFdExhaustion(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | null;
  if (e?.code === 'EMFILE' || e?.code === 'ENFILE') return true;
  return typeof e?.errno === 'number' && FD_ERRNOS.has(Math.abs(e.errno));
}

/** The descriptor number of an accepted TCP socket (null where Node does not expose it, e.g. Windows). */
function socketFd(socket: Socket): number | null {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

export class FdGate {
  readonly reserve: number;
  /** Connections refused since the last one taken. */
  private refusedInRun = 0;

  constructor(private readonly opts: FdGateOptions) {
    this.reserve = opts.reserve ?? (opts.limit === null ? 0 : fdReserve(opts.limit));
  }

  /** Whether `socket` may be served; false: the caller closes it at once (counted and logged here). */
  admit(socket: Socket): boolean {
    const { limit } = this.opts;
    const fd = socketFd(socket);
    if (limit !== null && fd !== null && fd >= limit - this.reserve) {
      this.refused({ fd, limit, reserve: this.reserve });
      return false;
    }
    if (this.refusedInRun > 0) {
      this.opts.logger.info(
        { fdExhausted: false, refusedWhileExhausted: this.refusedInRun, limit },
        'file descriptors free again: accepting connections',
      );
      this.refusedInRun = 0;
    }
    return true;
  }

  /** A listener's 'error' (a failed accept); true when it was fd exhaustion (then counted and logged). */
  acceptFailed(err: unknown): boolean {
    if (!isFdExhaustion(err)) return false;
    this.refused({ errno: (err as NodeJS.ErrnoException).code, limit: this.opts.limit });
    return true;
  }

  private refused(fields: Record<string, unknown>): void {
    this.refusedInRun++;
    this.opts.refuse({ code: 'FD_EXHAUSTED', ...fields });
  }
}
