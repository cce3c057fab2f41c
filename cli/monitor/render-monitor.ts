/**
 * `upsfleet monitor`'s screen: the dashboard's picture as lines of text for a terminal of a given size, from
 * the same live model the web page folds (master/dashboard/live-model.ts). Pure: the command draws what
 * this returns, the tests read it.
 */
import {
  ago,
  clockTime,
  describeRecord,
  describeTrigger,
  formatDuration,
  isOutageRecord,
  type LiveModel,
  memberStateText,
  numVar,
  runMember,
  statusWords,
  type Tone,
} from '../../master/dashboard/live-model.js';
import type { EarlyGroupView, StepView } from '../../master/sequencer/sequence-view.js';

export interface ScreenLine {
  text: string;
  tone?: Tone | 'title' | 'head';
}

const ANSI: Record<NonNullable<ScreenLine['tone']>, string> = {
  ok: '\x1b[32m',
  warn: '\x1b[33m',
  bad: '\x1b[31;1m',
  info: '',
  title: '\x1b[7m',
  head: '\x1b[1m',
};

function pad(s: string, n: number): string {
  return s.length >= n ? `${s.slice(0, Math.max(0, n - 1))} ` : s + ' '.repeat(n - s.length);
}

function bar(fraction: number | null, width: number): string {
  if (fraction === null) return `[${'?'.repeat(width)}]`;
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

function stageState(run: StepView | EarlyGroupView | undefined, now: number): { text: string; tone: Tone } {
  if (!run || run.state === 'waiting') return { text: '', tone: 'info' };
  if (run.state === 'done')
    return run.endedBy === 'deadline'
      ? { text: 'ended by its deadline', tone: 'bad' }
      : { text: `done in ${formatDuration((run.endedAt ?? now) - (run.startedAt ?? now))}`, tone: 'ok' };
  return {
    text: `${run.state}${run.deadline ? `, deadline in ${formatDuration(run.deadline - now)}` : ''}`,
    tone: 'warn',
  };
}

/** The whole screen (connection state: live, connecting, reconnecting...). */
export function monitorLines(model: LiveModel | null, now: number, conn: string, rows: number): ScreenLine[] {
  const out: ScreenLine[] = [];
  if (!model) {
    out.push({ text: `upsfleet monitor · ${conn}   q: quit`, tone: 'title' });
    out.push({ text: conn === 'live' ? 'waiting for the snapshot...' : `${conn}...` });
    return out;
  }
  const { vars } = model.ups;
  out.push({
    text: `upsfleet monitor · ${model.master.id} ${model.master.version} · ${conn} · ${clockTime(now)}   q: quit`,
    tone: 'title',
  });
  const words = statusWords(vars['ups.status'])
    .map((w) => w.word)
    .join(', ');
  const worst = statusWords(vars['ups.status']).some((w) => w.tone === 'bad')
    ? 'bad'
    : statusWords(vars['ups.status']).some((w) => w.tone === 'warn')
      ? 'warn'
      : 'ok';
  out.push({
    text: `UPS ${model.ups.name}: ${model.ups.waiting ? 'waiting for data' : words || '-'}${model.ups.stale ? ` · NOT COMMUNICATING (${model.ups.staleReason ?? ''})` : ''}${model.policy.onBatterySince !== null ? ` · on battery for ${formatDuration(now - model.policy.onBatterySince)}` : ''}`,
    tone: model.ups.stale ? 'bad' : worst,
  });
  if (model.policy.critical) out.push({ text: `CRITICAL: ${model.policy.reason ?? ''}`, tone: 'bad' });
  const charge = numVar(vars, 'battery.charge');
  const runtime = numVar(vars, 'battery.runtime');
  const volts = (name: string) => (vars[name] ? `${vars[name]} V` : '-');
  out.push({
    text: `charge ${bar(charge === null ? null : charge / 100, 20)} ${charge === null ? '-' : `${Math.round(charge)}%`}   runtime ${runtime === null ? '-' : formatDuration(runtime * 1000)}   load ${vars['ups.load'] ? `${vars['ups.load']}%` : '-'}   input ${volts('input.voltage')}   output ${volts('output.voltage')}`,
  });
  const p = model.plan;
  out.push({
    text: `battery plan: ${p.fits === null ? 'runtime unknown' : p.fits ? `fits, ${formatDuration(p.spareMs)} to spare` : `DOES NOT FIT, ${formatDuration(-(p.spareMs ?? 0))} short`} (sequence ${formatDuration(p.requiredMs)} ${p.drill ? 'measured by a drill' : 'from deadlines'} + margin ${formatDuration(p.marginMs)})`,
    tone: p.fits === false ? 'bad' : 'info',
  });
  const s = model.sequence;
  out.push({
    text: `sequence: ${s.state === 'idle' ? 'idle' : `${s.drill ? 'drill' : 'SHUTDOWN'} ${s.state} · ${s.runId ?? ''} · ${s.reason ?? ''}`}`,
    tone: s.state === 'idle' || s.state === 'done' ? 'info' : s.drill ? 'warn' : 'bad',
  });
  out.push({ text: '' });

  out.push({
    text: `${pad('HOST', 14)}${pad('CONN', 6)}${pad('VERSION', 10)}${pad('LAST SEEN', 12)}${pad('DRY', 5)}STATE`,
    tone: 'head',
  });
  const agentsById = new Map(model.agents.map((a) => [a.id, a]));
  const members = (group: string) => {
    const ids = new Set(model.agents.filter((a) => a.group === group).map((a) => a.id));
    for (const st of [...s.steps, ...s.early])
      for (const m of st.members) if (m.group === group) ids.add(m.id);
    return [...ids].sort();
  };
  const hostLines = (groups: string[]) => {
    for (const g of groups)
      for (const id of members(g)) {
        const a = agentsById.get(id);
        const run = s.runId ? runMember(s, id) : undefined;
        const st = run ? memberStateText(run) : null;
        out.push({
          text: `${pad(`  ${id}`, 14)}${pad(a?.connected ? 'yes' : 'NO', 6)}${pad(a?.version ?? '-', 10)}${pad(a?.connected ? 'now' : ago(a?.lastSeen, now), 12)}${pad(a?.dryRun ? 'yes' : 'no', 5)}${st?.text ?? ''}`,
          tone: st?.tone ?? (a?.connected ? 'info' : 'bad'),
        });
      }
  };
  for (const e of model.layout.early) {
    const st = stageState(
      s.early.find((x) => x.group === e.name),
      now,
    );
    out.push({
      text: `early ${e.name}: leaves ${describeTrigger(e.trigger)}${st.text ? ` · ${st.text}` : ''}`,
      tone: st.text ? st.tone : 'head',
    });
    hostLines([e.name]);
  }
  for (const step of model.layout.steps) {
    const st = stageState(
      s.steps.find((x) => x.index === step.index),
      now,
    );
    out.push({
      text: `step ${step.index}: ${step.groups.join(' + ')} (deadline ${formatDuration(step.deadlineMs)})${st.text ? ` · ${st.text}` : ''}`,
      tone: st.text ? st.tone : 'head',
    });
    hostLines(step.groups);
  }
  const f = s.final;
  out.push({
    text: `final: ${model.master.id} (hooks, killpower, power-off)${f.startedAt === null ? '' : f.error ? ` · failed: ${f.error}` : f.endedAt ? ' · done' : ' · running'}`,
    tone: f.error ? 'bad' : f.startedAt === null ? 'head' : f.endedAt ? 'ok' : 'warn',
  });
  out.push({ text: '' });

  const d = model.lastDrill;
  out.push({
    text: d
      ? `last drill: ${d.ok ? 'passed' : `${d.failures} failure(s)`} · ${new Date(d.startedAt).toLocaleString()} · ${d.hosts.length} hosts in ${formatDuration(d.durationMs)} · steps ${d.steps.map((x) => `${x.index ?? 'early'}:${formatDuration(x.durationMs)}`).join(' ')}`
      : 'last drill: none yet',
    tone: d ? (d.ok ? 'ok' : 'bad') : 'info',
  });
  out.push({ text: '' });

  // what is left of the screen: the live events (orders, acks, hooks...) first, then the rest of the journal
  const room = Math.max(3, rows - out.length - 1);
  out.push({ text: 'LIVE (newest first)', tone: 'head' });
  const since = s.startedAt ?? 0;
  const live = model.journal.filter(
    (r) => isOutageRecord(r) && (s.startedAt === null || (r.ts ?? 0) >= since - 60_000),
  );
  const feed = (live.length > 0 ? live : model.journal).slice(-room).reverse();
  for (const r of feed) out.push({ text: `${clockTime(r.ts)} ${describeRecord(r)}` });
  return out;
}

/** The lines cut to the terminal's size, coloured when `color`, as one frame (home, lines, clear the rest). */
export function frame(lines: ScreenLine[], cols: number, rows: number, color: boolean): string {
  const shown = lines.slice(0, rows).map((l) => {
    const text = l.text.length > cols ? l.text.slice(0, cols) : l.text;
    const code = color && l.tone ? ANSI[l.tone] : '';
    return code ? `${code}${text}\x1b[0m\x1b[K` : `${text}\x1b[K`;
  });
  return `\x1b[H${shown.join('\r\n')}\x1b[J`;
}
