/** The master's settings: the config file validated, checked for consistency, defaults applied. */
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../duration.js';
import type { WebhookSpec } from '../exec/webhook.js';
import { isLoopbackHost } from '../net/loopback.js';
import type { ServiceTarget } from '../notify/service-url.js';
import { DEFAULT_MAX_SILENCE_MS, DEFAULT_MISSED_PONGS } from '../protocol/link-timing.js';
import {
  DEFAULT_DEADTIME_MS,
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_KILLPOWER,
  DEFAULT_LISTEN,
  DEFAULT_LOST_MASTER_SPACING_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_STEP_DEADLINE_MS,
  DEFAULT_STEP_SETTLE_MS,
  defaultPowerOffCommand,
} from './defaults.js';
import { type ExtraCheck, loadConfigFile, parseConfigText } from './load.js';
import type { SourceConfigT } from './master-schema.js';
import { type MasterConfigFile, MasterConfigSchema } from './master-schema.js';
import type { NutServerConfigT } from './nut-server-schema.js';
import { commandArgv, type HookSpec, resolveHooks, resolveTrigger, type TriggerSpec } from './resolved.js';
import { resolveSshTargets, type SshTargetSpec, sshTargetProblems } from './ssh-target-settings.js';
import { resolveWake, type WakeSpec, wakeProblems } from './wake-settings.js';
import { resolveNotify } from './webhooks.js';

/** Spare battery time the sequence must leave (`plan.margin`). */
export const DEFAULT_PLAN_MARGIN_MS = 60_000;

export interface StepSpec {
  /** 1-based position in the fleet sequence. */
  index: number;
  groups: string[];
  deadlineMs: number;
  settleMs: number;
}

export interface EarlyGroupSpec {
  name: string;
  trigger: TriggerSpec;
  deadlineMs: number;
  settleMs: number;
  /** Waking its hosts when mains return before the fleet sequence started (docs/WAKE.md); absent: never woken. */
  wake?: WakeSpec;
}

export interface MasterSettings {
  file: string;
  baseDir: string;
  id: string;
  listen: { host: string; port: number };
  stateDir: string;
  /** undefined: the journal's default segment size. */
  journalMaxBytes: number | undefined;
  pingIntervalMs: number;
  ups: { name: string; description: string; source: SourceConfigT };
  policy: {
    debounceMs: number;
    deadtimeMs: number;
    critical: TriggerSpec;
    /** Sent to agents in welcome as (step - 1) × this: how much longer they wait on their own when the master is lost. */
    lostMasterSpacingMs: number;
  };
  earlyGroups: EarlyGroupSpec[];
  sequence: StepSpec[];
  agents: Array<{ id: string; group: string; tokenHash: string }>;
  /** Agentless members powered off over SSH (`sshTargets:`). */
  sshTargets: SshTargetSpec[];
  admins: Array<{ name: string; tokenHash: string }>;
  /** Dashboard viewer tokens (`viewers:`). */
  viewers: Array<{ name: string; tokenHash: string }>;
  /** Who may watch the dashboard without a token: `auto` loopback only, `token` nobody, `open` everyone. */
  dashboard: { viewing: 'auto' | 'token' | 'open' };
  shutdown: {
    command: string | string[];
    dryRun: boolean;
    marker: string;
    hooks: HookSpec[];
    killpower: string;
  };
  notify: {
    command?: string | string[];
    timeoutMs: number;
    webhooks: WebhookSpec[];
    services: ServiceTarget[];
  };
  /** The battery budget check: the sequence must fit in battery.runtime with this margin. */
  plan: { marginMs: number };
  /** /metrics: whether the nut_exporter-compatible series are exported beside upsfleet's own. */
  metrics: { nutExporter: boolean };
  log: { level: string; file?: string };
  /** The `nut:` section as written (the NUT server resolves it); undefined when the NUT server is off. */
  nut: NutServerConfigT | undefined;
  /** TLS files (absolute); `explicit` when the config named them (then they must exist). */
  tls: { certFile: string; keyFile: string; explicit: boolean; insecure: boolean };
  tokensFile: string;
  limits: LimitsSpec;
  /** undefined: advertise when TLS is on. */
  mdns: boolean | undefined;
  /** Worker processes terminating agents' TLS (0: the master's own process). */
  tlsWorkers: number;
}

export interface LimitsSpec {
  handshakeTimeoutMs: number;
  maxMessageBytes: number;
  connectionsPerAddress: number;
  authFailures: number;
  maxBackoffMs: number;
  /** Above this, an agent's clock skew is logged as a warning (once per connection). Never a refusal. */
  maxClockSkewMs: number;
  /** Liveness: ping intervals of silence allowed on top of twice the measured RTT (shared/protocol/link-timing.ts). */
  missedPongs: number;
  maxSilenceMs: number;
}

export const DEFAULT_LIMITS: LimitsSpec = {
  // 30 s: each of the TLS handshake and the hello takes one round trip; a 10 s one (a crawling link) still fits
  handshakeTimeoutMs: 30_000,
  maxMessageBytes: 64 * 1024,
  connectionsPerAddress: 16,
  authFailures: 5,
  maxBackoffMs: 300_000,
  maxClockSkewMs: 30_000,
  missedPongs: DEFAULT_MISSED_PONGS,
  maxSilenceMs: DEFAULT_MAX_SILENCE_MS,
};

/** Where `upsfleet keygen` writes and the master looks when `master.tls` names no files. */
export function defaultTlsFiles(stateDir: string): { certFile: string; keyFile: string } {
  return {
    certFile: resolve(stateDir, 'tls', 'master.crt'),
    keyFile: resolve(stateDir, 'tls', 'master.key'),
  };
}

const consistency: ExtraCheck<MasterConfigFile> = (c) => {
  const problems: Array<{ path: string; message: string }> = [];
  const inSequence = new Map<string, number>();
  c.sequence.forEach((step, i) => {
    step.groups.forEach((g, j) => {
      if (inSequence.has(g)) {
        problems.push({
          path: `/sequence/${i}/groups/${j}`,
          message: `group "${g}" is already in step ${inSequence.get(g)! + 1}`,
        });
      } else inSequence.set(g, i);
    });
  });
  const early = new Set<string>();
  for (const [name, g] of Object.entries(c.groups ?? {})) {
    if (g.trigger) {
      early.add(name);
      if (inSequence.has(name)) {
        problems.push({
          path: `/groups/${name}/trigger`,
          message: `group "${name}" has its own trigger and is also in the sequence; an early group leaves before the sequence`,
        });
      }
      if (Object.keys(g.trigger).length === 0) {
        problems.push({
          path: `/groups/${name}/trigger`,
          message: 'an early trigger needs chargeBelow, runtimeBelow or onBatteryFor',
        });
      }
    }
  }
  problems.push(...wakeProblems(c.groups ?? {}));
  const ids = new Set<string>();
  (c.agents ?? []).forEach((a, i) => {
    if (ids.has(a.id)) problems.push({ path: `/agents/${i}/id`, message: `agent "${a.id}" is listed twice` });
    ids.add(a.id);
    if (!inSequence.has(a.group) && !early.has(a.group)) {
      problems.push({
        path: `/agents/${i}/group`,
        message: `group "${a.group}" is neither in the sequence nor an early group`,
      });
    }
  });
  problems.push(
    ...sshTargetProblems(c.sshTargets ?? [], {
      agentIds: ids,
      groups: new Set([...inSequence.keys(), ...early]),
    }),
  );
  const src = c.ups.source;
  if (src.type === 'simulated' && src.timeline !== undefined && src.script !== undefined) {
    problems.push({
      path: '/ups/source/script',
      message: 'give either timeline (a file) or script (inline), not both',
    });
  }
  const tls = c.master.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    problems.push({
      path: '/master/tls',
      message: 'give both cert and key (or neither, for the files of `upsfleet keygen`)',
    });
  }
  if (tls?.insecure && tls.cert !== undefined) {
    problems.push({
      path: '/master/tls/insecure',
      message: 'insecure: true turns TLS off; remove it or the cert/key',
    });
  }
  if (tls?.insecure && c.master.listen && !isLoopbackHost(splitHostPort(c.master.listen).host)) {
    problems.push({
      path: '/master/tls/insecure',
      message: 'plain HTTP/WebSocket is allowed on a loopback listen address only',
    });
  }
  if (
    c.nut &&
    tls?.insecure &&
    !c.nut.allowPlaintextLogin &&
    !isLoopbackHost(splitHostPort(c.nut.listen).host)
  ) {
    // without TLS no NUT client could log in from another host: say so now rather than refuse every login later
    problems.push({
      path: '/nut/listen',
      message:
        'the NUT port is off loopback on a master without TLS: logins from other hosts would travel in clear. Turn TLS on, listen on loopback, or set nut.allowPlaintextLogin: true',
    });
  }
  if (c.master.listen) {
    const port = Number(c.master.listen.slice(c.master.listen.lastIndexOf(':') + 1));
    if (port > 65535) problems.push({ path: '/master/listen', message: `port ${port} is out of range` });
  }
  return problems;
};

export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}

export function resolveMasterSettings(c: MasterConfigFile, file: string): MasterSettings {
  const baseDir = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const stateDir = abs(c.master.stateDir ?? '.upsfleet-state');
  // file paths in the source section are relative to the config file
  const src = c.ups.source;
  const source =
    src.type === 'simulated' && src.timeline
      ? { ...src, timeline: abs(src.timeline) }
      : src.type === 'nut' && src.ca
        ? { ...src, ca: abs(src.ca) }
        : src;
  return {
    file,
    baseDir,
    id: c.master.id,
    listen: splitHostPort(c.master.listen ?? DEFAULT_LISTEN),
    stateDir,
    journalMaxBytes: c.master.journalMaxBytes,
    pingIntervalMs:
      c.master.pingInterval === undefined ? DEFAULT_PING_INTERVAL_MS : parseDuration(c.master.pingInterval),
    ups: { name: c.ups.name ?? 'ups', description: c.ups.description ?? 'upsfleet UPS', source },
    policy: {
      debounceMs: c.policy?.debounce === undefined ? DEFAULT_DEBOUNCE_MS : parseDuration(c.policy.debounce),
      deadtimeMs: c.policy?.deadtime === undefined ? DEFAULT_DEADTIME_MS : parseDuration(c.policy.deadtime),
      critical: resolveTrigger(c.policy?.critical, '/policy/critical'),
      lostMasterSpacingMs:
        c.policy?.lostMasterSpacing === undefined
          ? DEFAULT_LOST_MASTER_SPACING_MS
          : parseDuration(c.policy.lostMasterSpacing, '/policy/lostMasterSpacing'),
    },
    earlyGroups: Object.entries(c.groups ?? {})
      .filter(([, g]) => g.trigger)
      .map(([name, g]) => ({
        name,
        trigger: resolveTrigger(g.trigger, `/groups/${name}/trigger`),
        deadlineMs: g.deadline === undefined ? DEFAULT_STEP_DEADLINE_MS : parseDuration(g.deadline),
        settleMs: g.settle === undefined ? DEFAULT_STEP_SETTLE_MS : parseDuration(g.settle),
        ...(g.wake ? { wake: resolveWake(g.wake, `/groups/${name}/wake`) } : {}),
      })),
    sequence: c.sequence.map((s, i) => ({
      index: i + 1,
      groups: [...s.groups],
      deadlineMs: s.deadline === undefined ? DEFAULT_STEP_DEADLINE_MS : parseDuration(s.deadline),
      settleMs: s.settle === undefined ? DEFAULT_STEP_SETTLE_MS : parseDuration(s.settle),
    })),
    agents: (c.agents ?? []).map((a) => ({ ...a })),
    sshTargets: resolveSshTargets(c.sshTargets, baseDir),
    admins: (c.admins ?? []).map((a) => ({ ...a })),
    viewers: (c.viewers ?? []).map((v) => ({ ...v })),
    dashboard: { viewing: c.dashboard?.viewing ?? 'auto' },
    shutdown: {
      command: commandArgv(c.shutdown?.command, defaultPowerOffCommand()),
      dryRun: c.shutdown?.dryRun ?? false,
      marker: abs(c.shutdown?.marker ?? `${stateDir}/${c.master.id}.poweroff`),
      hooks: resolveHooks(c.shutdown?.hooks, '/shutdown/hooks'),
      killpower: c.shutdown?.killpower ?? DEFAULT_KILLPOWER,
    },
    notify: resolveNotify(c.notify),
    plan: { marginMs: c.plan?.margin === undefined ? DEFAULT_PLAN_MARGIN_MS : parseDuration(c.plan.margin) },
    log: { level: c.log?.level ?? 'info', ...(c.log?.file ? { file: abs(c.log.file) } : {}) },
    metrics: { nutExporter: c.metrics?.nutExporter ?? true },
    nut: c.nut,
    tls: {
      ...(c.master.tls?.cert && c.master.tls.key
        ? { certFile: abs(c.master.tls.cert), keyFile: abs(c.master.tls.key), explicit: true }
        : { ...defaultTlsFiles(stateDir), explicit: false }),
      insecure: c.master.tls?.insecure ?? false,
    },
    tokensFile: abs(c.master.tokensFile ?? `${stateDir}/tokens.json`),
    limits: resolveLimits(c.master.limits),
    mdns: c.master.mdns,
    tlsWorkers: c.master.tlsWorkers ?? 0,
  };
}

function resolveLimits(l: MasterConfigFile['master']['limits']): LimitsSpec {
  const ms = (v: string | number | undefined, fallback: number, where: string) =>
    v === undefined ? fallback : parseDuration(v, where);
  return {
    handshakeTimeoutMs: ms(
      l?.handshakeTimeout,
      DEFAULT_LIMITS.handshakeTimeoutMs,
      '/master/limits/handshakeTimeout',
    ),
    maxMessageBytes: l?.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes,
    connectionsPerAddress: l?.connectionsPerAddress ?? DEFAULT_LIMITS.connectionsPerAddress,
    authFailures: l?.authFailures ?? DEFAULT_LIMITS.authFailures,
    maxBackoffMs: ms(l?.maxBackoff, DEFAULT_LIMITS.maxBackoffMs, '/master/limits/maxBackoff'),
    maxClockSkewMs: ms(l?.maxClockSkew, DEFAULT_LIMITS.maxClockSkewMs, '/master/limits/maxClockSkew'),
    missedPongs: l?.missedPongs ?? DEFAULT_LIMITS.missedPongs,
    maxSilenceMs: ms(l?.maxSilence, DEFAULT_LIMITS.maxSilenceMs, '/master/limits/maxSilence'),
  };
}

/**
 * `placedAt`: resolve the file's relative paths as if it were at that path (a candidate config checked
 * against the running one, from another directory: `config check --against`).
 */
export function loadMasterSettings(file: string, placedAt: string = file): MasterSettings {
  return resolveMasterSettings(
    loadConfigFile<MasterConfigFile>(file, MasterConfigSchema, [consistency]).value,
    placedAt,
  );
}

export function parseMasterSettings(text: string, file: string): MasterSettings {
  return resolveMasterSettings(
    parseConfigText<MasterConfigFile>(text, file, MasterConfigSchema, [consistency]).value,
    file,
  );
}
