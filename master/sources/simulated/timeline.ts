/**
 * Timelines in the style of NUT's dummy-ups `.seq` files: `name: value` lines set variables, `TIMER <s>`
 * pauses, `ALARM [text]` sets or clears ups.alarm, `#` starts a comment. upsfleet adds `COMMBAD [reason]`
 * and `COMMOK` to script a lost and regained source.
 */
import { UpsfleetError } from '../../../shared/errors.js';

export type TimelineStep =
  | { kind: 'set'; name: string; value: string; line: number }
  | { kind: 'wait'; seconds: number; line: number }
  | { kind: 'alarm'; text: string | null; line: number }
  | { kind: 'comm'; ok: boolean; reason: string; line: number };

const VAR_NAME = /^[a-z][a-z0-9_.-]*$/i;

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"'))
    return t.slice(1, -1).replace(/\\(["\\])/g, '$1');
  return t;
}

export function parseTimeline(text: string, file = 'timeline'): TimelineStep[] {
  const steps: TimelineStep[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!t) return;
    const timer = /^TIMER\s+(\S+)$/i.exec(t);
    if (timer) {
      const seconds = Number(timer[1]);
      if (!Number.isFinite(seconds) || seconds < 0) {
        throw new UpsfleetError(
          'SOURCE_TIMELINE',
          `${file}:${line}: TIMER needs a non-negative number of seconds, got "${timer[1]}"`,
        );
      }
      steps.push({ kind: 'wait', seconds, line });
      return;
    }
    const alarm = /^ALARM(?:\s+(.*))?$/.exec(t);
    if (alarm) {
      steps.push({ kind: 'alarm', text: alarm[1] ? unquote(alarm[1]) : null, line });
      return;
    }
    const comm = /^(COMMBAD|COMMOK)(?:\s+(.*))?$/.exec(t);
    if (comm) {
      steps.push({ kind: 'comm', ok: comm[1] === 'COMMOK', reason: comm[2]?.trim() || 'scripted', line });
      return;
    }
    const colon = t.indexOf(':');
    const name = colon > 0 ? t.slice(0, colon).trim() : '';
    if (!VAR_NAME.test(name)) {
      throw new UpsfleetError(
        'SOURCE_TIMELINE',
        `${file}:${line}: expected "name: value", "TIMER <seconds>", "ALARM [text]", "COMMBAD" or "COMMOK", got "${t.slice(0, 80)}"`,
      );
    }
    steps.push({ kind: 'set', name, value: unquote(t.slice(colon + 1)), line });
  });
  return steps;
}
