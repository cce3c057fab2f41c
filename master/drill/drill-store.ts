/** The last drill's report, kept in the master's stateDir (drill-report.json) across restarts. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/fs/atomic-file.js';
import type { Logger } from '../../shared/logger.js';
import type { DrillReport } from './drill-report.js';

export const DRILL_REPORT_FILE = 'drill-report.json';

export class DrillStore {
  private readonly file: string;
  private current: DrillReport | null = null;
  private readonly listeners = new Set<(report: DrillReport) => void>();

  constructor(
    stateDir: string,
    private readonly logger: Logger,
  ) {
    this.file = join(stateDir, DRILL_REPORT_FILE);
  }

  load(): DrillReport | null {
    if (!existsSync(this.file)) return null;
    try {
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as DrillReport;
      if (typeof v.runId === 'string' && Array.isArray(v.steps) && Array.isArray(v.hosts)) this.current = v;
    } catch (err) {
      this.logger.warn({ err, file: this.file }, 'the saved drill report cannot be read: ignored');
    }
    return this.current;
  }

  get last(): DrillReport | null {
    return this.current;
  }

  /** Written to a temporary file and renamed, so a power cut never leaves half a report. */
  save(report: DrillReport): void {
    this.current = report;
    try {
      writeFileAtomic(this.file, `${JSON.stringify(report, null, 2)}\n`);
    } catch (err) {
      this.logger.error({ err, file: this.file }, 'cannot save the drill report');
    }
    for (const l of this.listeners) l(report);
  }

  /** Calls `listener` with each new report once it is saved (the dashboard shows it as it arrives). */
  subscribe(listener: (report: DrillReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
