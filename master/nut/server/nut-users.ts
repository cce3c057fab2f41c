/**
 * NUT server users with upsd.users semantics: a password (plain or sha256-hashed), an optional
 * `upsmon primary|secondary` role, `actions` (set, fsd), `instcmds` (names or `all`) and upsfleet's
 * group. Passwords are compared in constant time and never leave this file.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NutUserT } from '../../../shared/config/nut-server-schema.js';

export type NutAction = 'LOGIN' | 'PRIMARY' | 'FSD' | 'SET' | 'INSTCMD';

/**
 * The fleet member id of a NUT client. A user with a group is one member known in advance, `nut:<user>`
 * (waited for as offline at its step when not logged in); a second session of the same user while the
 * first is logged in, and every session of a user without a group, is its own member `nut:<user>@<address>`.
 */
export function nutMemberId(user: string, address?: string): string {
  return address === undefined ? `nut:${user}` : `nut:${user}@${address}`;
}

/** The members that the users with a group make known in advance: one per user. */
export function declaredNutMembers(users: readonly NutUserT[]): Array<{ id: string; group: string }> {
  return users.flatMap((u) => (u.group === undefined ? [] : [{ id: nutMemberId(u.name), group: u.group }]));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class NutUsers {
  private readonly byName = new Map<string, NutUserT>();

  constructor(users: readonly NutUserT[] = []) {
    this.replace(users);
  }

  /** A reloaded `nut.users`: every later command is checked against it (a session already logged in keeps its group). */
  replace(users: readonly NutUserT[]): void {
    this.byName.clear();
    for (const u of users) this.byName.set(u.name, u);
  }

  all(): NutUserT[] {
    return [...this.byName.values()];
  }

  get(name: string): NutUserT | undefined {
    return this.byName.get(name);
  }

  /** True when the user exists and the password matches. An unknown user costs the same as a wrong password. */
  authenticate(name: string, password: string): NutUserT | undefined {
    const user = this.byName.get(name);
    const given = sha256(password);
    let expected: Buffer;
    if (user?.passwordHash) expected = Buffer.from(user.passwordHash.slice('sha256:'.length), 'hex');
    else if (user?.password !== undefined) expected = sha256(user.password);
    else expected = sha256(`\u0000no-such-user\u0000${password}`); // never equal, same work
    const ok = expected.length === given.length && timingSafeEqual(expected, given);
    return ok && user ? user : undefined;
  }

  /** Whether an authenticated user may do `action` (and, for INSTCMD, run `cmd`). */
  static allows(user: NutUserT, action: NutAction, cmd?: string): boolean {
    switch (action) {
      case 'LOGIN':
        return user.upsmon !== undefined;
      case 'PRIMARY':
        return user.upsmon === 'primary';
      case 'FSD':
        return user.upsmon === 'primary' || (user.actions ?? []).includes('fsd');
      case 'SET':
        return (user.actions ?? []).includes('set');
      case 'INSTCMD': {
        const granted = user.instcmds ?? [];
        return granted.some((g) => g.toLowerCase() === 'all' || g === cmd);
      }
    }
  }
}
