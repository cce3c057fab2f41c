/**
 * Live drill progress for the terminal: compares successive /status sequence views and turns what changed
 * into lines, step by step and host by host (ordered, acked, each hook, going down, down, deadline).
 * Pure: fed views, returns lines.
 */
import type { MemberView, SequenceView, StepView } from '../../master/sequencer/sequence-view.js';

interface Seen {
  state: string;
  /** Last status shown per hook number. */
  hooks: Map<number, string>;
  /** A guest preset's guests: `hook:kind/name` -> the state last printed. */
  guests: Map<string, string>;
}

function secs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function stepLabel(s: StepView): string {
  return s.index === null
    ? `early group [${s.groups.join(', ')}]`
    : `step ${s.index} [${s.groups.join(', ')}]`;
}

export class DrillProgress {
  private readonly steps = new Map<string, string>();
  private readonly members = new Map<string, Seen>();
  private finalStarted = false;
  private finalEnded = false;
  private pad = 8;

  constructor(private readonly runId: string) {}

  /** Lines describing what happened since the previous view of the same run. */
  update(view: SequenceView): string[] {
    if (view.runId !== this.runId) return [];
    const out: string[] = [];
    const all = [...view.early.filter((e) => e.runId !== null && e.drill), ...view.steps];
    for (const s of all) for (const m of s.members) this.pad = Math.max(this.pad, m.id.length);
    for (const s of all) {
      const key = `${s.index ?? 'early'}:${s.groups.join(',')}`;
      const before = this.steps.get(key) ?? 'waiting';
      if (before === 'waiting' && s.state !== 'waiting') {
        out.push(`${stepLabel(s)} started: ${s.members.length} host(s), deadline ${secs(s.deadlineMs)}`);
      }
      for (const m of s.members) out.push(...this.member(s, m));
      if (before !== 'done' && s.state === 'done') {
        const took = s.startedAt !== null && s.endedAt !== null ? secs(s.endedAt - s.startedAt) : '?';
        out.push(`${stepLabel(s)} done in ${took} (${s.endedBy ?? '?'})`);
      }
      this.steps.set(key, s.state);
    }
    if (!this.finalStarted && view.final.startedAt !== null) {
      this.finalStarted = true;
      out.push('final step: the master runs its drill-safe hooks (no killpower, no power-off in a drill)');
    }
    if (!this.finalEnded && view.final.endedAt !== null) {
      this.finalEnded = true;
      out.push(view.final.error ? `final step failed: ${view.final.error}` : 'final step done');
    }
    return out;
  }

  private member(s: StepView, m: MemberView): string[] {
    const key = `${s.index ?? 'early'}:${m.id}`;
    const seen = this.members.get(key) ?? {
      state: 'pending',
      hooks: new Map<number, string>(),
      guests: new Map<string, string>(),
    };
    const out: string[] = [];
    const name = `  ${m.id.padEnd(this.pad)}`;
    const order = m.orderedAt;
    if (seen.state === 'pending' && m.state !== 'pending')
      out.push(`${name} order sent${m.offlineAtStep ? ' (offline: will resend when it connects)' : ''}`);
    if (
      m.ackAt !== null &&
      order !== null &&
      !['acked', 'going-down', 'down', 'deadline'].includes(seen.state)
    ) {
      out.push(`${name} acked in ${secs(m.ackAt - order)}`);
    }
    for (const h of m.hooks) {
      if (seen.hooks.get(h.hook) === h.status) continue;
      seen.hooks.set(h.hook, h.status);
      const d = h.durationMs === null || h.status === 'skipped' ? '' : ` in ${secs(h.durationMs)}`;
      out.push(
        `${name} hook ${h.hook}/${h.of} ${h.name}: ${h.status === 'skipped' ? 'skipped (not drill-safe)' : h.status}${d}`,
      );
    }
    for (const h of m.hooks) {
      for (const g of h.guests ?? []) {
        const id = `${h.hook}:${g.kind}/${g.name}`;
        if (seen.guests.get(id) === g.state) continue;
        seen.guests.set(id, g.state);
        const d = g.durationMs === null ? '' : ` in ${secs(g.durationMs)}`;
        out.push(`${name}   ${g.kind} ${g.name}: ${g.state}${d}`);
      }
    }
    if (
      m.goingDownAt !== null &&
      order !== null &&
      !['going-down', 'down', 'deadline'].includes(seen.state)
    ) {
      out.push(
        `${name} going down after ${secs(m.goingDownAt - order)}${m.dryRun ? ' (dry-run: it would power off now)' : ''}`,
      );
    }
    if (m.state === 'down' && seen.state !== 'down') out.push(`${name} confirmed down`);
    if (m.state === 'deadline' && seen.state !== 'deadline')
      out.push(`${name} DEADLINE: stopped waiting (it had reached ${m.reachedAtDeadline ?? '?'})`);
    this.members.set(key, {
      state: m.state === 'ordered' && m.ackAt !== null ? 'acked' : m.state,
      hooks: seen.hooks,
      guests: seen.guests,
    });
    return out;
  }
}
