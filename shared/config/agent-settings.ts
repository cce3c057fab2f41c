/** The agent's settings: the config file validated, defaults applied, token read. */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../duration.js';
import { UpsfleetError } from '../errors.js';
import { type AgentConfigFile, AgentConfigSchema } from './agent-schema.js';
import { DEFAULT_DEADTIME_MS, DEFAULT_NOTIFY_TIMEOUT_MS, defaultPowerOffCommand } from './defaults.js';
import { type ExtraCheck, loadConfigFile, parseConfigText } from './load.js';
import { commandArgv, type HookSpec, resolveHooks } from './resolved.js';

export interface AgentSettings {
  file: string;
  id: string;
  group: string;
  token: string;
  stateDir: string;
  masterUrls: string[];
  deadtimeMs: number;
  reconnect: { initialMs: number; maxMs: number };
  shutdown: { command: string | string[]; dryRun: boolean; marker: string };
  hooks: HookSpec[];
  notify: { command?: string | string[]; timeoutMs: number };
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
  return [];
};

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
      throw new UpsfleetError('CONFIG_NOT_FOUND', `${file}: /agent/tokenFile: cannot read ${tokenFile} (${(err as Error).message})`);
    }
  }
  return {
    file,
    id: c.agent.id,
    group: c.agent.group,
    token: token ?? '',
    stateDir,
    masterUrls: [...c.master.urls],
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
    notify: {
      ...(c.notify?.command !== undefined ? { command: commandArgv(c.notify.command, []) } : {}),
      timeoutMs: c.notify?.timeout === undefined ? DEFAULT_NOTIFY_TIMEOUT_MS : parseDuration(c.notify.timeout),
    },
    log: { level: c.log?.level ?? 'info', ...(c.log?.file ? { file: abs(c.log.file) } : {}) },
  };
}

export function loadAgentSettings(file: string): AgentSettings {
  return resolveAgentSettings(loadConfigFile<AgentConfigFile>(file, AgentConfigSchema, [consistency]).value, file);
}

export function parseAgentSettings(text: string, file: string): AgentSettings {
  return resolveAgentSettings(parseConfigText<AgentConfigFile>(text, file, AgentConfigSchema, [consistency]).value, file);
}
