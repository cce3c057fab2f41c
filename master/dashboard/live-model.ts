/**
 * The live picture of a master, as the dashboard (browser) and `upsfleet monitor` (terminal) hold it: the
 * messages of the master's live stream (`GET /live`, Server-Sent Events), the fold that applies them, and
 * the wording both views share (status tokens as words, durations, one line per journal record, member
 * states). Pure and free of Node and DOM APIs: the browser bundle includes it.
 */
import type { TriggerSpec } from '../../shared/config/resolved.js';
import type { UpsVars } from '../../shared/nut/ups-state.js';
import type { DrillReport } from '../drill/drill-report.js';
import type { MemberInfo } from '../fleet/registry.js';
import type { PlanView } from '../plan/plan.js';
import type { MemberView, SequenceView } from '../sequencer/sequence-view.js';

/** One point of the charge/runtime/load history (runtime in seconds). */
export interface HistoryPoint {
  t: number;
  charge: number | null;
  runtime: number | null;
  load: number | null;
}

/** A journal record as written (`seq`, `ts`, `kind` and the record's own fields). */
export interface JournalEntry {
  seq: number;
  kind: string;
  ts?: number;
  [field: string]: unknown;
}

export interface LiveUps {
  name: string;
  vars: UpsVars;
  waiting: boolean;
  stale: boolean;
  staleReason: string | null;
  updatedAt: number | null;
}

export interface LivePolicy {
  critical: boolean;
  reason: string | null;
  onBatterySince: number | null;
  communicating: boolean;
}

export type LiveAgent = MemberInfo & { link?: { rttMs?: number | null; skewMs?: number | null } };

/** The configured sequence: every step with its groups, the early groups with their triggers. */
export interface LiveLayout {
  steps: Array<{ index: number; groups: string[]; deadlineMs: number; settleMs: number }>;
  early: Array<{ name: string; trigger: TriggerSpec; deadlineMs: number; settleMs: number }>;
}

export interface LiveSnapshot {
  type: 'snapshot';
  /** The master's clock when it sent this (the views show "ago" against it). */
  now: number;
  master: { id: string; version: string; startedAt: number; source: string | null };
  ups: LiveUps;
  policy: LivePolicy;
  agents: LiveAgent[];
  sequence: SequenceView;
  plan: PlanView;
  lastDrill: DrillReport | null;
  layout: LiveLayout;
  history: HistoryPoint[];
  journal: JournalEntry[];
  /** What this viewer may do: `admin` when it presented an admin token. */
  viewer: { admin: boolean };
}

export type LiveMessage =
  | LiveSnapshot
  | { type: 'state'; now: number; ups: LiveUps; policy: LivePolicy; plan: PlanView }
  | { type: 'sequence'; now: number; sequence: SequenceView }
  | { type: 'fleet'; now: number; agents: LiveAgent[] }
  | { type: 'drill'; report: DrillReport; plan: PlanView }
  | { type: 'sample'; point: HistoryPoint }
  | { type: 'journal'; record: JournalEntry };

export interface LiveModel extends Omit<LiveSnapshot, 'type'> {
  /** The viewer's clock minus the master's, at the last message that carried `now`. */
  skewMs: number;
}

/** Journal records a view keeps (the master sends its last 200 on connect). */
export const JOURNAL_KEPT = 200;
/** History points a view keeps (the master bounds its own by age and count too). */
export const HISTORY_KEPT = 5000;

const TYPES = new Set(['snapshot', 'state', 'sequence', 'fleet', 'drill', 'sample', 'journal']);

/** A parsed stream message, or null for anything else (a newer master's message type is ignored). */
export function parseLiveMessage(data: string): LiveMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const type = (v as { type?: unknown }).type;
  return typeof type === 'string' && TYPES.has(type) ? (v as LiveMessage) : null;
}

/** Applies one message; before the first snapshot there is no model and only a snapshot makes one. */
export function applyLive(model: LiveModel | null, msg: LiveMessage, localNow: number): LiveModel | null {
  if (msg.type === 'snapshot') {
    const { type: _t, ...rest } = msg;
    return { ...rest, skewMs: localNow - msg.now };
  }
  if (!model) return null;
  switch (msg.type) {
    case 'state':
      return { ...model, ups: msg.ups, policy: msg.policy, plan: msg.plan, skewMs: localNow - msg.now };
    case 'sequence':
      return { ...model, sequence: msg.sequence, skewMs: localNow - msg.now };
    case 'fleet':
      return { ...model, agents: msg.agents, skewMs: localNow - msg.now };
    case 'drill':
      return { ...model, lastDrill: msg.report, plan: msg.plan };
    case 'sample': {
      const history = [...model.history];
      const last = history[history.length - 1];
      if (last && last.t === msg.point.t) history[history.length - 1] = msg.point;
      else history.push(msg.point);
      return { ...model, history: history.slice(-HISTORY_KEPT) };
    }
    case 'journal': {
      if (model.journal.some((r) => r.seq === msg.record.seq && r.ts === msg.record.ts)) return model;
      return { ...model, journal: [...model.journal, msg.record].slice(-JOURNAL_KEPT) };
    }
  }
}

const STATUS_WORDS: Record<string, string> = {
  OL: 'on line (mains)',
  OB: 'on battery',
  LB: 'low battery',
  HB: 'high battery',
  RB: 'replace battery',
  CHRG: 'charging',
  DISCHRG: 'discharging',
  BYPASS: 'on bypass',
  CAL: 'calibrating',
  OFF: 'output off',
  OVER: 'overloaded',
  TRIM: 'trimming voltage',
  BOOST: 'boosting voltage',
  FSD: 'forced shutdown',
  ALARM: 'alarm',
  WAIT: 'waiting for data',
};

export type Tone = 'ok' | 'warn' | 'bad' | 'info';

const TOKEN_TONES: Record<string, Tone> = {
  OL: 'ok',
  CHRG: 'info',
  OB: 'warn',
  DISCHRG: 'warn',
  BYPASS: 'warn',
  TRIM: 'info',
  BOOST: 'info',
  CAL: 'info',
  HB: 'info',
  WAIT: 'info',
  LB: 'bad',
  RB: 'bad',
  OFF: 'bad',
  OVER: 'bad',
  FSD: 'bad',
  ALARM: 'bad',
};

/** `ups.status` as words, one per token (unknown tokens are kept as they are). */
export function statusWords(status: string | undefined): Array<{ token: string; word: string; tone: Tone }> {
  return (status ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((token) => ({ token, word: STATUS_WORDS[token] ?? token, tone: TOKEN_TONES[token] ?? 'info' }));
}

/** A number from a UPS variable, or null. */
export function numVar(vars: UpsVars, name: string): number | null {
  const v = vars[name];
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** 42s, 5m 10s, 1h 02m. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  const neg = ms < 0;
  const s = Math.round(Math.abs(ms) / 1000);
  const text =
    s < 60
      ? `${s}s`
      : s < 3600
        ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
        : `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return neg ? `-${text}` : text;
}

/** "3s ago", "never". */
export function ago(ts: number | null | undefined, now: number): string {
  if (ts === null || ts === undefined) return 'never';
  return `${formatDuration(Math.max(0, now - ts))} ago`;
}

/** HH:MM:SS in the viewer's local time. */
export function clockTime(ts: number | undefined): string {
  if (ts === undefined) return '--:--:--';
  const d = new Date(ts);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** An early group's trigger in words. */
export function describeTrigger(t: TriggerSpec): string {
  const parts: string[] = [];
  if (t.onBatteryForMs !== undefined) parts.push(`on battery for ${formatDuration(t.onBatteryForMs)}`);
  if (t.chargeBelow !== undefined) parts.push(`charge below ${t.chargeBelow}%`);
  if (t.runtimeBelowMs !== undefined) parts.push(`runtime below ${formatDuration(t.runtimeBelowMs)}`);
  return parts.length > 0 ? parts.join(' or ') : 'with the fleet';
}

/** Where a member of a run stands, in words, with its tone. */
export function memberStateText(m: MemberView): { text: string; tone: Tone } {
  if (m.downEarly) return { text: 'down early', tone: 'ok' };
  if (m.cutShortByDeadline) return { text: `cut short at ${m.reachedAtDeadline ?? 'deadline'}`, tone: 'bad' };
  const hook = m.hooks[m.hooks.length - 1];
  switch (m.state) {
    case 'pending':
      return { text: 'waiting for its step', tone: 'info' };
    case 'ordered':
      return {
        text: m.offlineAtStep ? 'offline at its step' : 'ordered',
        tone: m.offlineAtStep ? 'bad' : 'warn',
      };
    case 'acked': {
      if (!hook) return { text: 'acknowledged', tone: 'warn' };
      // a guest preset at work: its guests so far (stopped 2 of 3, web1 forced)
      const guests = hook.status === 'started' ? (hook.guests ?? []) : [];
      const off = guests.filter((g) => g.state === 'stopped' || g.state === 'forced').length;
      const guestText =
        guests.length > 0
          ? ` (${off} of ${guests.length} guests off${guests.some((g) => g.state === 'forced') ? ', some forced' : ''})`
          : '';
      return { text: `hook ${hook.hook}/${hook.of} ${hook.name} ${hook.status}${guestText}`, tone: 'warn' };
    }
    case 'going-down':
      return { text: m.dryRun ? 'going down (dry-run)' : 'going down', tone: 'warn' };
    case 'down':
      return { text: m.dryRun ? 'down (dry-run)' : 'down', tone: 'ok' };
    case 'offline':
      return { text: 'offline', tone: 'bad' };
    default:
      return { text: 'deadline passed', tone: 'bad' };
  }
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

/** One line for a journal record (its time shown beside it by the view). */
export function describeRecord(r: JournalEntry): string {
  const who = r.memberId ? ` ${str(r.memberId)}` : '';
  const where = r.step !== undefined ? ` step ${str(r.step)}` : r.early ? ` early group ${str(r.early)}` : '';
  const drill = r.drill ? ' [drill]' : '';
  switch (r.kind) {
    case 'sequence': {
      const detail = r.detail ? `: ${str(r.detail)}` : '';
      switch (r.event) {
        case 'sequence-start':
          return `sequence starts${drill}${detail}`;
        case 'step-start':
          return `${where.trim()} starts${drill}`;
        case 'early-start':
          return `${where.trim()} ordered down${drill}`;
        case 'order':
          return `order to${who}${where}${drill}`;
        case 'ack':
          return `ack from${who}${drill}`;
        case 'progress':
          return `hook${who} ${str(r.detail)}${drill}`;
        case 'going-down':
          return `going down:${who} (${str(r.detail)})${drill}`;
        case 'down':
          return `down:${who}${r.downEarly ? ' (early)' : ''}${drill}`;
        case 'deadline':
          return `cut short by the deadline:${who}${where}${drill}`;
        case 'offline':
          return `offline at its step:${who}${where}${drill}`;
        case 'disconnected':
          return `disconnected before confirming:${who}${drill}`;
        case 'step-end':
          return `${where.trim()} ends (${str(r.endedBy)})${drill}`;
        case 'early-end':
          return `${where.trim()} ends (${str(r.endedBy)})${drill}`;
        case 'final-wait':
          return `final step waits for early groups${drill}`;
        case 'final-start':
          return `final step (master) starts${drill}`;
        case 'final-end':
          return `final step ends${drill}${detail}`;
        case 'done':
          return `sequence done${drill}`;
        case 'abandoned':
          return `sequence abandoned${drill}${detail}`;
        default:
          return `${str(r.event)}${who}${where}${drill}${detail}`;
      }
    }
    case 'event':
      return `${str(r.event)}: ${str(r.message)}`;
    case 'status':
      return `ups.status ${str(r.status)}`;
    case 'critical':
      return `CRITICAL: ${str(r.reason)}`;
    case 'early':
      return `early trigger for ${str(r.group)}: ${str(r.reason)}`;
    case 'comm':
      return r.ok ? 'UPS communicating again' : `UPS not communicating: ${str(r.reason)}`;
    case 'killpower-sending':
      return `killpower: sending ${str(r.command)}${r.retry ? ' (again after a restart)' : ''}`;
    case 'killpower':
      return r.ok
        ? `killpower ${str(r.command)} accepted`
        : `killpower ${str(r.command)} FAILED: ${str(r.error)}`;
    case 'master-hooks':
      return `master hooks ran (${str(r.failures)} failed)`;
    case 'drill-final':
      return 'drill: killpower and power-off skipped';
    case 'master-poweroff':
      return `master powers off${r.dryRun ? ' (dry-run)' : ''}`;
    case 'start':
      return `master started (${str(r.version)})`;
    case 'resume':
      return 'master resumed from its journal';
    case 'latch-released':
      return `critical latch released: ${str(r.reason)}`;
    case 'checkpoint':
      return 'journal segment checkpoint';
    case 'reload':
      return `config reloaded${r.outcome ? `: ${str(r.outcome)}` : ''}`;
    default:
      return r.kind;
  }
}

/** A journal record that belongs to the live picture of an outage or drill (orders, acks, hooks, killpower...). */
export function isOutageRecord(r: JournalEntry): boolean {
  return (
    r.kind === 'sequence' ||
    r.kind === 'event' ||
    r.kind === 'critical' ||
    r.kind === 'early' ||
    r.kind.startsWith('killpower') ||
    r.kind === 'master-hooks' ||
    r.kind === 'drill-final' ||
    r.kind === 'master-poweroff'
  );
}

/** The groups of the fleet in sequence order, with their step (null: early or not in the sequence). */
export function groupsInOrder(
  model: Pick<LiveModel, 'layout' | 'agents'>,
): Array<{ group: string; step: number | null }> {
  const out: Array<{ group: string; step: number | null }> = [];
  const seen = new Set<string>();
  for (const s of model.layout.steps)
    for (const g of s.groups) {
      if (!seen.has(g)) out.push({ group: g, step: s.index });
      seen.add(g);
    }
  for (const e of model.layout.early) {
    if (!seen.has(e.name)) out.push({ group: e.name, step: null });
    seen.add(e.name);
  }
  for (const a of model.agents) {
    if (!seen.has(a.group)) out.push({ group: a.group, step: null });
    seen.add(a.group);
  }
  return out;
}

/** A member's state in the current run (from the steps or its early group), if it has one. */
export function runMember(sequence: SequenceView, id: string): MemberView | undefined {
  for (const s of sequence.steps) for (const m of s.members) if (m.id === id) return m;
  for (const e of sequence.early) for (const m of e.members) if (m.id === id) return m;
  return undefined;
}
