/** The agent's settings: the config file validated, defaults applied, token read. */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../duration.js';
import { UpsfleetError } from '../errors.js';
import type { WebhookSpec } from '../exec/webhook.js';
import { isLoopbackHost } from '../net/loopback.js';
import { normalizeFingerprint } from '../tls/fingerprint.js';
import { type AgentConfigFile, AgentConfigSchema } from './agent-schema.js';
import { DEFAULT_DEADTIME_MS, defaultPowerOffCommand } from './defaults.js';
import { type ExtraCheck, loadConfigFile, parseConfigText } from './load.js';
import { commandArgv, type HookSpec, resolveHooks } from './resolved.js';
import { resolveNotify } from './webhooks.js';

function resolveMasterTls(
  m: AgentConfigFile['master'],
  abs: (p: string) => string,
  file: string,
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
      `${file}: /master/ca: cannot read ${caFile} (${(err as Error).message})`,
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
  notify: { command?: string | string[]; timeoutMs: number; webhooks?: WebhookSpec[] };
  log: { level: string; file?: string };
}

const consistency: ExtraCheck<AgentConfigFile> = (c) => {
  const a = c.agent;
  if (a.token === undefined && a.tokenFile === undefined) {
    return [{ path: '/agent', message: 'needs "token" or "tokenFile"' }];
  }
  if (a.token !== undefined && a.tokenFile !== undefined) {
    return [{ path: '/agent/tokenFile', message: 'give either token or tokenFile, not both' }];
  }
  return masterProblems(c.master);
};

function masterProblems(m: AgentConfigFile['master']): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  if ((m.urls === undefined) === (m.auto !== true)) {
    problems.push({ path: '/master', message: 'give either urls (a list) or auto: true (mDNS discovery)' });
  }
  const pins =
    m.fingerprint === undefined ? [] : typeof m.fingerprint === 'string' ? [m.fingerprint] : m.fingerprint;
  pins.forEach((p, i) => {
    if (normalizeFingerprint(p) === null) {
      problems.push({
        path: `/master/fingerprint${typeof m.fingerprint === 'string' ? '' : `/${i}`}`,
        message: 'not a SHA-256 fingerprint (sha256:<64 hex>, as upsfleet keygen prints it)',
      });
    }
  });
  if (m.auto && pins.length === 0 && m.ca === undefined) {
    problems.push({
      path: '/master/auto',
      message:
        'discovery needs master.fingerprint (or master.ca): mDNS only finds addresses, the pin decides whom to trust',
    });
  }
  (m.urls ?? []).forEach((u, i) => {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      problems.push({ path: `/master/urls/${i}`, message: 'not a URL' });
      return;
    }
    if (parsed.protocol === 'ws:' && !isLoopbackHost(parsed.hostname)) {
      problems.push({
        path: `/master/urls/${i}`,
        message: 'plain ws:// is allowed to a loopback address only; use wss:// and pin master.fingerprint',
      });
    }
    if (parsed.protocol === 'ws:' && (pins.length > 0 || m.ca !== undefined)) {
      problems.push({
        path: `/master/urls/${i}`,
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
  let token = c.agent.token;
  if (token === undefined && c.agent.tokenFile !== undefined) {
    const tokenFile = abs(c.agent.tokenFile);
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UpsfleetError(
        'CONFIG_NOT_FOUND',
        `${file}: /agent/tokenFile: cannot read ${tokenFile} (${(err as Error).message})`,
      );
    }
  }
  return {
    file,
    id: c.agent.id,
    group: c.agent.group,
    token: token ?? '',
    stateDir,
    masterUrls: [...(c.master.urls ?? [])],
    masterAuto: c.master.auto === true,
    masterTls: resolveMasterTls(c.master, abs, file),
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
  };
}

export function loadAgentSettings(file: string): AgentSettings {
  return resolveAgentSettings(
    loadConfigFile<AgentConfigFile>(file, AgentConfigSchema, [consistency]).value,
    file,
  );
}

export function parseAgentSettings(text: string, file: string): AgentSettings {
  return resolveAgentSettings(
    parseConfigText<AgentConfigFile>(text, file, AgentConfigSchema, [consistency]).value,
    file,
  );
}
