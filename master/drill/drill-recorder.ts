/**
 * Keeps each drill's measurements: when a drill run is done it waits (briefly) for the agents' drill
 * reports, which follow their going-down, then builds the report, saves it in the stateDir and hands it on
 * (plan check, notification). A drill that gave way to a real sequence is not recorded.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { SequenceView, TimelineEntry } from '../sequencer/sequence-view.js';
import { buildDrillReport, type DrillReport, drillReportComplete } from './drill-report.js';
import type { DrillStore } from './drill-store.js';

const REPORT_GRACE_MS = 5_000;
const POLL_MS = 100;

export class DrillRecorder {
  private timer: TimerHandle | null = null;

  constructor(
    private readonly opts: {
      clock: Clock;
      logger: Logger;
      view: () => SequenceView;
      store: DrillStore;
      recorded: (report: DrillReport) => void;
    },
  ) {}

  timeline(entry: TimelineEntry): void {
    if (entry.kind !== 'done' || !entry.drill) return;
    this.timer?.cancel();
    this.poll(entry.runId, this.opts.clock.now() + REPORT_GRACE_MS);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private poll(runId: string, until: number): void {
    this.timer = null;
    const view = this.opts.view();
    if (view.runId !== runId) return;
    if (!drillReportComplete(view) && this.opts.clock.now() < until) {
      this.timer = this.opts.clock.setTimer(POLL_MS, () => this.poll(runId, until));
      return;
    }
    const report = buildDrillReport(view);
    if (!report) return;
    this.opts.store.save(report);
    this.opts.logger.info(
      { runId, durationMs: report.durationMs, hosts: report.hosts.length, failures: report.failures },
      report.ok ? 'drill passed: measurements saved' : 'drill finished with failures: measurements saved',
    );
    this.opts.recorded(report);
  }
}
