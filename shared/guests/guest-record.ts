/**
 * What a preset stopped, kept in the agent's state directory (guests/<key hash>.json) so that the
 * guests can be started again after power returns, by the agent that runs after the reboot. Written
 * atomically (temporary file, fsync, rename, fsync of the directory). A record is claimed (renamed to
 * .claimed) before any guest is started from it and removed afterwards: a record never starts guests
 * twice, even if the agent dies half-way (a claimed record found at start is dropped, not replayed).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory, writeFileAtomic } from '../fs/atomic-file.js';
import type { Guest } from './guest-driver.js';
import type { GuestTarget, RestartMode } from './guest-spec.js';

export interface GuestRecord {
  v: 1;
  key: string;
  target: GuestTarget;
  restart: Exclude<RestartMode, 'no'>;
  sudo: boolean;
  /** When the first of these guests was stopped (epoch ms). */
  stoppedAt: number;
  guests: Guest[];
}

export function recordDir(stateDir: string): string {
  return join(stateDir, 'guests');
}

export function recordPath(stateDir: string, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return join(recordDir(stateDir), `${hash}.json`);
}

function parse(text: string): GuestRecord | null {
  try {
    const r = JSON.parse(text) as Partial<GuestRecord>;
    if (r.v !== 1 || typeof r.key !== 'string' || !Array.isArray(r.guests) || typeof r.target !== 'object')
      return null;
    return r as GuestRecord;
  } catch {
    return null;
  }
}

export function readRecord(path: string): GuestRecord | null {
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Adds guests to the record of this target (written before they are stopped, so a power cut half-way
 * through still leaves the record). Guests already in it are kept once.
 */
export function addToRecord(
  stateDir: string,
  base: Omit<GuestRecord, 'v' | 'guests' | 'stoppedAt'>,
  guests: readonly Guest[],
  now: number,
): string {
  mkdirSync(recordDir(stateDir), { recursive: true, mode: 0o700 });
  const path = recordPath(stateDir, base.key);
  const old = readRecord(path);
  const merged = [...(old?.guests ?? [])];
  for (const g of guests) if (!merged.some((m) => m.id === g.id && m.kind === g.kind)) merged.push(g);
  const record: GuestRecord = { v: 1, ...base, stoppedAt: old?.stoppedAt ?? now, guests: merged };
  writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** The records waiting for a restart. */
export function listRecords(stateDir: string): Array<{ path: string; record: GuestRecord | null }> {
  let names: string[];
  try {
    names = readdirSync(recordDir(stateDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => /^[0-9a-f]{16}\.json$/.test(n))
    .sort()
    .map((n) => {
      const path = join(recordDir(stateDir), n);
      return { path, record: readRecord(path) };
    });
}

/** Records claimed by a restart that never finished (the agent died during it). */
export function listClaimed(stateDir: string): string[] {
  try {
    return readdirSync(recordDir(stateDir))
      .filter((n) => n.endsWith('.json.claimed'))
      .map((n) => join(recordDir(stateDir), n));
  } catch {
    return [];
  }
}

/** Takes the record for a restart; null when it is gone (another restart took it). */
export function claimRecord(path: string): { claimed: string; record: GuestRecord | null } | null {
  const claimed = `${path}.claimed`;
  try {
    renameSync(path, claimed);
  } catch {
    return null;
  }
  fsyncDirectory(join(path, '..'));
  return { claimed, record: readRecord(claimed) };
}

export function dropRecord(path: string): void {
  rmSync(path, { force: true });
  fsyncDirectory(join(path, '..'));
}
