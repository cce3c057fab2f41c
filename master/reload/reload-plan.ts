/**
 * What a reload of the master's config may change while the master runs, decided by comparing the
 * running settings with the file's new ones. Pure (no I/O, no logger): the SIGHUP reloader and
 * `upsfleet config check --against` give the same answer.
 *
 * Live: the tokens (`agents:`, `admins:`), `log.level`, `notify:` and `nut.users`. Everything else
 * (listeners, TLS, stateDir, the source, the sequence, groups, policy, shutdown, ...) is built into
 * running components and the journal's view of the run, so it waits for a restart.
 */
import type { MasterSettings } from '../../shared/config/master-settings.js';

/** What a running master can swap without a restart. */
export type ReloadArea = 'tokens' | 'logLevel' | 'notify' | 'nutUsers';

export interface Change {
  /** JSON pointer into the config file: /log/level, /sequence/0/deadline, /master/listen. */
  path: string;
  /** What applies it live; null when only a restart does. */
  area: ReloadArea | null;
}

export interface ReloadPlan {
  apply: Change[];
  restartNeeded: Change[];
}

/** Config paths (and everything under them) a running master applies live. */
const LIVE: ReadonlyArray<readonly [prefix: string, area: ReloadArea]> = [
  ['/agents', 'tokens'],
  ['/admins', 'tokens'],
  ['/log/level', 'logLevel'],
  ['/notify', 'notify'],
  ['/nut/users', 'nutUsers'],
];

/**
 * Where each settings field lives in the config file. A Record over every key, so that a new settings
 * field does not compile until someone decides here how it reloads. null: not from the file's content.
 */
const CONFIG_PATH: Record<keyof MasterSettings, string | null> = {
  file: null,
  baseDir: null,
  id: '/master/id',
  listen: '/master/listen',
  stateDir: '/master/stateDir',
  journalMaxBytes: '/master/journalMaxBytes',
  pingIntervalMs: '/master/pingInterval',
  tls: '/master/tls',
  tokensFile: '/master/tokensFile',
  limits: '/master/limits',
  mdns: '/master/mdns',
  tlsWorkers: '/master/tlsWorkers',
  ups: '/ups',
  policy: '/policy',
  earlyGroups: '/groups',
  sequence: '/sequence',
  agents: '/agents',
  sshTargets: '/sshTargets',
  admins: '/admins',
  viewers: '/viewers',
  dashboard: '/dashboard',
  shutdown: '/shutdown',
  notify: '/notify',
  plan: '/plan',
  metrics: '/metrics',
  log: '/log',
  nut: '/nut',
};

/** Settings whose resolved shape does not follow the file's (host+port from one string, cert/key to files): compared whole. */
const COMPARED_WHOLE = new Set<keyof MasterSettings>(['listen', 'tls', 'sshTargets']);

export function planReload(current: MasterSettings, next: MasterSettings): ReloadPlan {
  const paths: string[] = [];
  for (const key of Object.keys(CONFIG_PATH) as Array<keyof MasterSettings>) {
    const at = CONFIG_PATH[key];
    if (at === null) continue;
    const [a, b] =
      key === 'earlyGroups'
        ? [byName(current.earlyGroups), byName(next.earlyGroups)]
        : [current[key], next[key]];
    if (COMPARED_WHOLE.has(key)) {
      if (!deepEqual(a, b)) paths.push(at);
    } else diff(a, b, at, paths);
  }
  const plan: ReloadPlan = { apply: [], restartNeeded: [] };
  for (const path of paths) {
    const area = areaOf(path);
    (area ? plan.apply : plan.restartNeeded).push({ path, area });
  }
  return plan;
}

/** The settings the master runs with once `applied` are in effect (the rest still waits for a restart). */
export function runningAfter(
  current: MasterSettings,
  next: MasterSettings,
  applied: ReadonlySet<ReloadArea>,
): MasterSettings {
  const running: MasterSettings = { ...current };
  if (applied.has('tokens')) {
    running.agents = next.agents;
    running.admins = next.admins;
  }
  if (applied.has('logLevel')) running.log = { ...current.log, level: next.log.level };
  if (applied.has('notify')) running.notify = next.notify;
  if (applied.has('nutUsers') && current.nut && next.nut)
    running.nut = { ...current.nut, users: next.nut.users };
  return running;
}

export function areaOf(path: string): ReloadArea | null {
  for (const [prefix, area] of LIVE) if (path === prefix || path.startsWith(`${prefix}/`)) return area;
  return null;
}

/** Early groups are a list in the settings and a map by name in the file. */
function byName(groups: MasterSettings['earlyGroups']): Record<string, unknown> {
  return Object.fromEntries(groups.map(({ name, ...rest }) => [name, rest]));
}

/**
 * Collects the config path of every difference: objects key by key (unless their `type` differs), lists
 * of objects item by item when they keep their length (otherwise the list as a whole), anything else as
 * one value.
 */
function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (deepEqual(a, b)) return;
  // a source of another type is another thing, not the same one with other fields
  if (isRecord(a) && isRecord(b) && a.type === b.type) {
    const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !(k in a))];
    for (const k of keys) diff(a[k], b[k], `${path}/${pointerToken(configKey(k, a[k] ?? b[k]))}`, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.some(isRecord)) {
    a.forEach((item, i) => {
      diff(item, b[i], `${path}/${i}`, out);
    });
    return;
  }
  out.push(path);
}

/** Resolved durations are `<name>Ms` numbers; the file calls them `<name>` (deadlineMs -> deadline). */
function configKey(key: string, value: unknown): string {
  return typeof value === 'number' && key.length > 2 && key.endsWith('Ms') ? key.slice(0, -2) : key;
}

function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  // a source of another type is another thing, not the same one with other fields
  if (isRecord(a) && isRecord(b) && a.type === b.type) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}
