/** The drill's final report as a terminal table: per step its duration, per host ack, hooks, shutdown time, failures. */
import type { DrillReport } from '../../master/drill/drill-report.js';
import { table } from '../format/table.js';

function secs(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

export function formatDrillReport(r: DrillReport): string {
  const out: string[] = [];
  out.push(
    `DRILL REPORT ${r.runId}: ${r.ok ? 'PASSED' : 'FAILED'} - ${r.hosts.length} host(s), ${r.failures} failure(s), ${secs(r.durationMs)} in all (nothing was powered off)`,
    '',
  );
  out.push(
    table([
      ['STEP', 'GROUPS', 'DURATION', 'ENDED BY', 'DEADLINE'],
      ...r.steps.map((s) => [
        String(s.index ?? 'early'),
        s.groups.join(','),
        secs(s.durationMs),
        s.endedBy ?? '-',
        secs(s.deadlineMs),
      ]),
      [
        'final',
        '(master)',
        secs(r.final.durationMs),
        r.final.error ? `error: ${r.final.error}` : 'done',
        '-',
      ],
    ]),
    '',
  );
  out.push(
    table([
      ['HOST', 'GROUP', 'STEP', 'ACK', 'HOOKS', 'SHUTDOWN', 'DOWN AT', 'RESULT'],
      ...r.hosts.map((h) => [
        h.id,
        h.group,
        String(h.step ?? 'early'),
        secs(h.ackLatencyMs),
        h.hooks.length === 0
          ? '-'
          : h.hooks
              .map((k) =>
                k.status === 'skipped'
                  ? `${k.name} skipped`
                  : `${k.name} ${secs(k.durationMs)} ${k.status}${k.guests ? ` (would stop ${k.guests.length === 0 ? 'nothing' : k.guests.map((g) => g.name).join(', ')})` : ''}`,
              )
              .join('; '),
        secs(h.shutdownMs),
        h.wouldBeDownAtMs === null ? '-' : `T+${secs(h.wouldBeDownAtMs)}`,
        h.failures.length === 0 ? 'ok' : `FAIL: ${h.failures.join('; ')}`,
      ]),
    ]),
  );
  out.push(
    '',
    'ACK: order sent -> ack; SHUTDOWN: order sent -> going-down (hooks done, it would power off now); DOWN AT: since the drill started.',
    'HOOKS: only drill-safe hooks run in a drill; the others show as skipped. Guest presets list what they would stop.',
  );
  return `${out.join('\n')}\n`;
}
