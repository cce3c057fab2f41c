/** The agent's settings: the config file validated, defaults applied, token read. */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDuration } from '../duration.js';
import { UpsfleetError } from '../errors.js';
import type { WebhookSpec } from '../exec/webhook.js';
import { guestHookProblems } from '../guests/guest-spec.js';
import { isLoopbackHost } from '../net/loopback.js';
import type { ServiceTarget } from '../notify/service-url.js';
import { normalizeFingerprint } from '../tls/fingerprint.js';
import { type AgentConfigFile, AgentConfigSchema, type MasterLinkConfig } from './agent-schema.js';
import { DEFAULT_DEADTIME_MS, defaultPowerOffCommand } from './defaults.js';
import { type ExtraCheck, loadConfigFile, parseConfigText } from './load.js';
import { commandArgv, type HookSpec, resolveHooks } from './resolved.js';
import { resolveNotify } from './webhooks.js';

function resolveMasterTls(
  m: MasterLinkConfig,
  abs: (p: string) => string,
  file: string,
  at = '/master',
): AgentSettings['masterTls'] {
  const pins =
    m.fingerprint === undefined ? [] : typeof m.fingerprint === 'string' ? [m.fingerprint] : m.fingerprint;
  const fingerprints = pins.map((p) => normalizeFingerprint(p)).filter((p): p is string => p !== null);
  if (m.ca === undefined) return { fingerprints };
  const caFile = abs(m.ca);
  try {
    return { fingerprints, caPem: readFileSync(caFile, 'utf8'), caFile };
  } catch (err) {
    throw new UpsfleetError(
      'CONFIG_NOT_FOUND',
      `${file}: ${at}/ca: cannot read ${caFile} (${(err as Error).message})`,
    );
  }
}

export interface AgentSettings {
  file: string;
  id: string;
  group: string;
  token: string;
  stateDir: string;
  /** Empty when `masterAuto`. */
  masterUrls: string[];
  /** Discover the master over mDNS. */
  masterAuto: boolean;
  /** How the master's certificate is verified: pinned fingerprints and/or a CA (PEM); neither: the system CAs. */
  masterTls: { fingerprints: string[]; caPem?: string; caFile?: string };
  deadtimeMs: number;
  reconnect: { initialMs: number; maxMs: number };
  shutdown: { command: string | string[]; dryRun: boolean; marker: string };
  hooks: HookSpec[];
  notify: {
    command?: string | string[];
    timeoutMs: number;
    webhooks?: WebhookSpec[];
    services?: ServiceTarget[];
  };
  log: { level: string; file?: string };
  /**
   * Every UPS that feeds this host, one master each (NUT's POWERVALUE per UPS). With the single `master:`
   * form: one supply of power value 1 (the fields above). Absent: derive it with `suppliesOf`.
   */
  supplies?: SupplySpec[];
  /** How much of the power value must stay trusted for the host to keep running (NUT's MINSUPPLIES); default 1. */
  minSupplies?: number;
}

/** One UPS feeding this host, through its master. */
export interface SupplySpec {
  /** For logs and the state directory (supply-1, ... unless named). */
  name: string;
  /** Fail-over URLs of this one master; empty when `auto`. */
  urls: string[];
  auto: boolean;
  tls: AgentSettings['masterTls'];
  /** How many of the host's power supplies this UPS feeds; 0: monitor only. */
  powerValue: number;
  /** The token this master knows the agent by. */
  token: string;
  /** Where this supply keeps its place in the shutdown order (the state directory itself for a single master). */
  stateDir: string;
}

/** The supplies of these settings: the `supplies:` list, or the single master as one supply of power value 1. */
export function suppliesOf(s: AgentSettings): { supplies: SupplySpec[]; minSupplies: number } {
  if (s.supplies && s.supplies.length > 0) return { supplies: s.supplies, minSupplies: s.minSupplies ?? 1 };
  return {
    supplies: [
      {
        name: 'master',
        urls: s.masterUrls,
        auto: s.masterAuto,
        tls: s.masterTls,
        powerValue: 1,
        token: s.token,
        stateDir: s.stateDir,
      },
    ],
    minSupplies: 1,
  };
}

type Problem = { path: string; message: string };

const consistency: ExtraCheck<AgentConfigFile> = (c) => {
  const a = c.agent;
  const everySupplyHasToken =
    c.supplies?.every((s) => s.token !== undefined || s.tokenFile !== undefined) === true;
  if (a.token === undefined && a.tokenFile === undefined && !everySupplyHasToken) {
    return [{ path: '/agent', message: 'needs "token" or "tokenFile"' }];
  }
  if (a.token !== undefined && a.tokenFile !== undefined) {
    return [{ path: '/agent/tokenFile', message: 'give either token or tokenFile, not both' }];
  }
  if (c.master !== undefined && c.supplies !== undefined) {
    return [
      {
        path: '/supplies',
        message:
          'give either master (one UPS feeds this host) or supplies (several UPSes, one master each), not both',
      },
    ];
  }
  if (c.supplies !== undefined) return suppliesProblems(c.supplies, c.minSupplies);
  if (c.master === undefined) {
    return [
      {
        path: '',
        message: 'is missing required setting "master" (or "supplies" when several UPSes feed this host)',
      },
    ];
  }
  if (c.minSupplies !== undefined) {
    return [
      {
        path: '/minSupplies',
        message: 'only with supplies: a host fed by one master has one supply',
      },
    ];
  }
  return masterProblems(c.master);
};

/** NUT's MINSUPPLIES rules for the supplies list: names, tokens, no master twice, enough power to start with. */
function suppliesProblems(
  supplies: NonNullable<AgentConfigFile['supplies']>,
  minSupplies: number | undefined,
): Problem[] {
  const problems: Problem[] = [];
  const names = new Map<string, number>();
  const urls = new Map<string, number>();
  supplies.forEach((s, i) => {
    const at = `/supplies/${i}`;
    if (s.token !== undefined && s.tokenFile !== undefined)
      problems.push({ path: `${at}/tokenFile`, message: 'give either token or tokenFile, not both' });
    const name = s.name ?? `supply-${i + 1}`;
    const sameName = names.get(name);
    if (sameName !== undefined)
      problems.push({
        path: `${at}/name`,
        message: `"${name}" is already the name of /supplies/${sameName}`,
      });
    names.set(name, i);
    if (s.master.auto === true)
      problems.push({
        path: `${at}/master/auto`,
        message: "give each supply its master's urls: discovery cannot tell which UPS a master serves",
      });
    for (const [j, u] of (s.master.urls ?? []).entries()) {
      const other = urls.get(u);
      if (other !== undefined && other !== i)
        problems.push({
          path: `${at}/master/urls/${j}`,
          message: `${u} is already the master of /supplies/${other}: a master serves one UPS (fail-over URLs of one master go in one supply's urls)`,
        });
      urls.set(u, i);
    }
    problems.push(...masterProblems(s.master, `${at}/master`));
  });
  const total = supplies.reduce((sum, s) => sum + (s.powerValue ?? 1), 0);
  const min = minSupplies ?? 1;
  if (min > total) {
    problems.push({
      path: minSupplies === undefined ? '/supplies' : '/minSupplies',
      message: `minSupplies ${min} is more than the supplies' powerValue add up to (${total}): this host would count itself short of power from the start`,
    });
  }
  return problems;
}

function masterProblems(m: MasterLinkConfig, at = '/master'): Problem[] {
  const problems: Problem[] = [];
  if ((m.urls === undefined) === (m.auto !== true)) {
    problems.push({ path: at, message: 'give either urls (a list) or auto: true (mDNS discovery)' });
  }
  const pins =
    m.fingerprint === undefined ? [] : typeof m.fingerprint === 'string' ? [m.fingerprint] : m.fingerprint;
  pins.forEach((p, i) => {
    if (normalizeFingerprint(p) === null) {
      problems.push({
        path: `${at}/fingerprint${typeof m.fingerprint === 'string' ? '' : `/${i}`}`,
        message: 'not a SHA-256 fingerprint (sha256:<64 hex>, as upsfleet keygen prints it)',
      });
    }
  });
  if (m.auto && pins.length === 0 && m.ca === undefined) {
    problems.push({
      path: `${at}/auto`,
      message:
        'discovery needs master.fingerprint (or master.ca): mDNS only finds addresses, the pin decides whom to trust',
    });
  }
  (m.urls ?? []).forEach((u, i) => {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      problems.push({ path: `${at}/urls/${i}`, message: 'not a URL' });
      return;
    }
    if (parsed.protocol === 'ws:' && !isLoopbackHost(parsed.hostname)) {
      problems.push({
        path: `${at}/urls/${i}`,
        message: 'plain ws:// is allowed to a loopback address only; use wss:// and pin master.fingerprint',
      });
    }
    if (parsed.protocol === 'ws:' && (pins.length > 0 || m.ca !== undefined)) {
      problems.push({
        path: `${at}/urls/${i}`,
        message: 'a fingerprint or CA is given but this URL is plain ws://; use wss://',
      });
    }
  });
  return problems;
}

export function resolveAgentSettings(c: AgentConfigFile, file: string): AgentSettings {
  const baseDir = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const stateDir = abs(c.agent.stateDir ?? '.upsfleet-state');
  const readToken = (inline: string | undefined, tokenFile: string | undefined, at: string) => {
    if (inline !== undefined || tokenFile === undefined) return inline;
    const path = abs(tokenFile);
    let text: string;
    let mode: number;
    try {
      text = readFileSync(path, 'utf8');
      mode = statSync(path).mode & 0o777;
    } catch (err) {
      throw new UpsfleetError(
        'CONFIG_NOT_FOUND',
        `${file}: ${at}/tokenFile: cannot read ${path} (${(err as Error).message})`,
      );
    }
    // like ssh with a private key: a secret others can read is refused, not used
    if ((mode & 0o077) !== 0)
      throw new UpsfleetError(
        'TOKEN_FILE_INSECURE',
        `${file}: ${at}/tokenFile: ${path} has mode 0${mode.toString(8)}, so group or others can read or change the agent's token; run chmod 600 ${path}`,
        { path, mode: `0${mode.toString(8)}` },
      );
    const token = text.trim();
    if (token === '')
      throw new UpsfleetError(
        'TOKEN_FILE_EMPTY',
        `${file}: ${at}/tokenFile: ${path} is empty: it holds no token`,
        {
          path,
        },
      );
    return token;
  };
  const token = readToken(c.agent.token, c.agent.tokenFile, '/agent');
  const supplies: SupplySpec[] | undefined = c.supplies?.map((sp, i) => {
    const name = sp.name ?? `supply-${i + 1}`;
    return {
      name,
      urls: [...(sp.master.urls ?? [])],
      auto: false,
      tls: resolveMasterTls(sp.master, abs, file, `/supplies/${i}/master`),
      powerValue: sp.powerValue ?? 1,
      token: readToken(sp.token, sp.tokenFile, `/supplies/${i}`) ?? token ?? '',
      stateDir: join(stateDir, 'supplies', name),
    };
  });
  // the first supply also fills the single-master fields, for whatever reads them
  const link = c.master ?? c.supplies?.[0]?.master ?? {};
  return {
    file,
    id: c.agent.id,
    group: c.agent.group,
    token: supplies?.[0]?.token ?? token ?? '',
    stateDir,
    masterUrls: [...(link.urls ?? [])],
    masterAuto: link.auto === true,
    masterTls: supplies?.[0]?.tls ?? resolveMasterTls(link, abs, file),
    deadtimeMs: c.deadtime === undefined ? DEFAULT_DEADTIME_MS : parseDuration(c.deadtime),
    reconnect: {
      initialMs: c.reconnect?.initial === undefined ? 500 : parseDuration(c.reconnect.initial),
      maxMs: c.reconnect?.max === undefined ? 30_000 : parseDuration(c.reconnect.max),
    },
    shutdown: {
      command: commandArgv(c.shutdown?.command, defaultPowerOffCommand()),
      dryRun: c.shutdown?.dryRun ?? false,
      marker: abs(c.shutdown?.marker ?? `${stateDir}/${c.agent.id}.poweroff`),
    },
    hooks: resolveHooks(c.hooks, '/hooks'),
    notify: resolveNotify(c.notify),
    log: { level: c.log?.level ?? 'info', ...(c.log?.file ? { file: abs(c.log.file) } : {}) },
    ...(supplies ? { supplies, minSupplies: c.minSupplies ?? 1 } : {}),
  };
}

/** Guest presets: what one setting alone cannot say (forceAfter below the timeout, one preset per target). */
const guestHooks: ExtraCheck<AgentConfigFile> = (c) => guestHookProblems(c.hooks);

export function loadAgentSettings(file: string): AgentSettings {
  return resolveAgentSettings(
    loadConfigFile<AgentConfigFile>(file, AgentConfigSchema, [consistency, guestHooks]).value,
    file,
  );
}

export function parseAgentSettings(text: string, file: string): AgentSettings {
  return resolveAgentSettings(
    parseConfigText<AgentConfigFile>(text, file, AgentConfigSchema, [consistency, guestHooks]).value,
    file,
  );
}
