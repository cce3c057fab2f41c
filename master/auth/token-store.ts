/**
 * The tokens file (`<stateDir>/tokens.json`, mode 0600): per-agent and admin tokens managed by
 * `upsfleet token add/list/revoke`. Only hashes are stored; a token is shown once, when it is made.
 * The master re-reads the file when its modification time changes, so adding or revoking needs no
 * restart; a revoked agent's open connection is closed on the next read. The config's `agents:` and
 * `admins:` lists keep working and are merged in (an id in both: the tokens file wins).
 */
import { readFileSync, statSync } from 'node:fs';
import { generateToken, hashToken } from '../../shared/auth/token.js';
import { UpsfleetError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/atomic-file.js';

export type Role = 'agent' | 'admin';

export interface TokenEntry {
  id: string;
  role: Role;
  /** The one group an agent token grants (agents only). */
  group?: string;
  tokenHash: string;
  created: string;
}

interface TokensFile {
  version: 1;
  tokens: TokenEntry[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function parse(text: string, file: string): TokenEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UpsfleetError('CONFIG_SYNTAX', `${file}: not valid JSON (${(err as Error).message})`);
  }
  const tokens = (v as Partial<TokensFile>)?.tokens;
  if (!Array.isArray(tokens))
    throw new UpsfleetError('CONFIG_INVALID', `${file}: expected {"version": 1, "tokens": [...]}`);
  return tokens.map((t: Partial<TokenEntry>, i) => {
    if (
      typeof t?.id !== 'string' ||
      !ID.test(t.id) ||
      (t.role !== 'agent' && t.role !== 'admin') ||
      typeof t.tokenHash !== 'string' ||
      !/^sha256:[0-9a-f]{64}$/.test(t.tokenHash) ||
      (t.role === 'agent' && (typeof t.group !== 'string' || !ID.test(t.group)))
    ) {
      throw new UpsfleetError(
        'CONFIG_INVALID',
        `${file}: /tokens/${i} needs id, role agent|admin, tokenHash sha256:<hex> and (agents) group`,
      );
    }
    return {
      id: t.id,
      role: t.role,
      ...(t.group ? { group: t.group } : {}),
      tokenHash: t.tokenHash,
      created: String(t.created ?? ''),
    };
  });
}

/** Reads the tokens file; a missing file is an empty list. */
export function readTokens(file: string): TokenEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UpsfleetError('CONFIG_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`);
  }
  return parse(text, file);
}

export function writeTokens(file: string, tokens: TokenEntry[]): void {
  writeFileAtomic(file, `${JSON.stringify({ version: 1, tokens } satisfies TokensFile, null, 2)}\n`, {
    mode: 0o600,
  });
}

/** Adds (or replaces) a token for `id`; returns the token itself, to be shown once. */
export function addToken(
  file: string,
  id: string,
  role: Role,
  group: string | undefined,
  now = new Date(),
): string {
  if (!ID.test(id))
    throw new UpsfleetError('CLI_USAGE', `"${id}" is not a valid id (letters, digits, . _ -)`);
  if (role === 'agent' && (!group || !ID.test(group)))
    throw new UpsfleetError('CLI_USAGE', 'an agent token needs --group GROUP');
  const token = generateToken();
  const tokens = readTokens(file).filter((t) => t.id !== id);
  tokens.push({
    id,
    role,
    ...(role === 'agent' ? { group } : {}),
    tokenHash: hashToken(token),
    created: now.toISOString(),
  });
  writeTokens(file, tokens);
  return token;
}

export function revokeToken(file: string, id: string): void {
  const tokens = readTokens(file);
  const kept = tokens.filter((t) => t.id !== id);
  if (kept.length === tokens.length)
    throw new UpsfleetError('TOKEN_UNKNOWN', `no token for "${id}" in ${file}`);
  writeTokens(file, kept);
}

export interface Credentials {
  agents: ReadonlyMap<string, { id: string; group: string; tokenHash: string }>;
  admins: ReadonlyArray<{ name: string; tokenHash: string }>;
}

/** The config's own `agents:` and `admins:` lists (merged under the tokens file). */
export interface ConfigCredentials {
  agents: ReadonlyArray<{ id: string; group: string; tokenHash: string }>;
  admins: ReadonlyArray<{ name: string; tokenHash: string }>;
}

/**
 * The master's view: config lists merged with the tokens file, re-read when the file's mtime or size
 * changes (checked at most once a second, on use). `onChange` gets the new view (e.g. to drop revoked agents).
 */
export class TokenStore {
  private stamp = '';
  private checkedAt = 0;
  /** The tokens file's last good entries: an unreadable file never takes tokens away. */
  private entries: TokenEntry[] = [];
  private view: Credentials = { agents: new Map(), admins: [] };

  constructor(
    private readonly file: string,
    private fromConfig: ConfigCredentials,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly onChange: (c: Credentials) => void = () => {},
  ) {
    this.reload(true, false);
  }

  current(now = Date.now()): Credentials {
    if (now - this.checkedAt >= 1000) {
      this.checkedAt = now;
      this.reload(false, false);
    }
    return this.view;
  }

  /** Forces a re-read on the next use. */
  invalidate(): void {
    this.checkedAt = 0;
  }

  /**
   * A reloaded config's lists: merged now, with the tokens file re-read now (changed or not). An
   * unreadable tokens file is reported through onError and its last good entries stay; the lists apply anyway.
   */
  reconfigure(fromConfig: ConfigCredentials, now = Date.now()): Credentials {
    this.fromConfig = fromConfig;
    this.checkedAt = now;
    this.reload(false, true);
    return this.view;
  }

  private reload(first: boolean, force: boolean): void {
    let stamp = 'absent';
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      // absent: only the config's lists
    }
    if (stamp === this.stamp && !force) return;
    try {
      this.entries = readTokens(this.file);
      this.stamp = stamp;
    } catch (err) {
      this.onError(err);
      if (first) throw err;
      if (!force) return; // keep the last good view
    }
    this.view = merge(this.fromConfig, this.entries);
    if (!first) this.onChange(this.view);
  }
}

/** The config's lists with the tokens file on top (an id in both: the tokens file wins). */
function merge(fromConfig: ConfigCredentials, entries: readonly TokenEntry[]): Credentials {
  const agents = new Map(fromConfig.agents.map((a) => [a.id, { ...a }]));
  const admins = new Map(fromConfig.admins.map((a) => [a.name, { ...a }]));
  for (const t of entries) {
    if (t.role === 'agent') {
      admins.delete(t.id);
      agents.set(t.id, { id: t.id, group: t.group!, tokenHash: t.tokenHash });
    } else {
      agents.delete(t.id);
      admins.set(t.id, { name: t.id, tokenHash: t.tokenHash });
    }
  }
  return { agents, admins: [...admins.values()] };
}
