/**
 * A command prefix that runs a program with its wall clock moved by an offset (libfaketime), for clock-skew
 * tests: `[...skewedClock('+1h'), 'node', ...]`. It preloads the library through `env`, which execs, so the
 * pid stays the program's own; the `faketime` binary instead forks the program and leaves it running when
 * it is itself killed. Only the wall clock moves (an RTC that drifted), not the monotonic clock timers use.
 */
import { existsSync } from 'node:fs';

/** Where Debian's libfaketime package puts the library; undefined when it is not installed. */
export const LIBFAKETIME: string | undefined = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((p) => existsSync(p));

/** `offset` as libfaketime reads it: '+1h', '-1h', '+90s'. */
export function skewedClock(offset: string): string[] {
  if (!LIBFAKETIME) throw new Error('libfaketime is not installed (apt-get install faketime)');
  return ['env', `LD_PRELOAD=${LIBFAKETIME}`, `FAKETIME=${offset}`, 'FAKETIME_DONT_FAKE_MONOTONIC=1'];
}
