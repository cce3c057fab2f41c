/**
 * Failed NUT logins, keyed by the client's address *and* the user name it tried: after a few free
 * failures that pair is refused for a backoff that doubles with each further failure (1 s, 2 s, 4 s ...
 * up to 5 min), without its password even being checked. Attempts refused during a backoff do not
 * lengthen it, so the real client behind that address gets in once the guessing stops; the same user
 * from another address, and other users from this one, are not held back. A success clears the pair.
 */
import type { Clock } from '../../../shared/clock.js';

export const LOGIN_FREE_FAILURES = 3;
export const LOGIN_FIRST_BACKOFF_MS = 1_000;
export const LOGIN_MAX_BACKOFF_MS = 5 * 60_000;
/** Pairs remembered at most: an address trying endless user names cannot grow this without bound. */
const MAX_TRACKED = 10_000;

interface Failures {
  count: number;
  blockedUntil: number;
}

export class LoginBackoff {
  private readonly byKey = new Map<string, Failures>();

  constructor(private readonly clock: Clock) {}

  /** Milliseconds `user` from `ip` must still wait (0: it may try). */
  waitMs(ip: string, user: string): number {
    const f = this.byKey.get(key(ip, user));
    return f ? Math.max(0, f.blockedUntil - this.clock.now()) : 0;
  }

  /** A wrong user or password; returns the backoff now in force (0 while under the free failures). */
  failed(ip: string, user: string): number {
    const k = key(ip, user);
    const f = this.byKey.get(k) ?? { count: 0, blockedUntil: 0 };
    this.byKey.delete(k); // re-inserted last: the oldest pair goes first when the map is full
    f.count++;
    const over = f.count - LOGIN_FREE_FAILURES;
    const backoff =
      over < 0 ? 0 : Math.min(LOGIN_FIRST_BACKOFF_MS * 2 ** Math.min(over, 20), LOGIN_MAX_BACKOFF_MS);
    f.blockedUntil = this.clock.now() + backoff;
    this.byKey.set(k, f);
    if (this.byKey.size > MAX_TRACKED) this.byKey.delete(this.byKey.keys().next().value!);
    return backoff;
  }

  succeeded(ip: string, user: string): void {
    this.byKey.delete(key(ip, user));
  }
}

/** User names are at most 64 characters: a longer one (never a real user) is kept short as a key. */
const key = (ip: string, user: string) => `${ip}\u0000${user.slice(0, 65)}`;
