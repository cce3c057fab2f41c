/**
 * Decode failures made visible: reports that cannot be decoded (no such report ID, empty, a codec error)
 * or arrive shorter than their layout are counted per report ID and logged at warn once per report ID;
 * a report ID asked for and not refreshed by `staleAfterPolls` polls in a row makes the values it carries
 * stale (kept, and named in /status). Read by /status and /metrics through UsbhidSource.health().
 */
import type { Logger } from '../../../shared/logger.js';

export interface ReportCounts {
  undecodable: number;
  truncated: number;
}

export interface HidReportHealth {
  undecodable: number;
  truncated: number;
  /** Per report ID (decimal), only IDs with a failure. */
  byReport: Record<string, ReportCounts>;
  /** Report IDs read before and not refreshed by the last `staleAfterPolls` polls that asked for them. */
  staleReports: number[];
  staleAfterPolls: number;
}

export class ReportHealth {
  private readonly counts = new Map<number, ReportCounts>();
  private readonly warned = new Set<number>();
  /** Polls in a row that asked for a report ID and got nothing decodable. */
  private readonly missed = new Map<number, number>();

  constructor(
    private readonly log: Logger,
    readonly staleAfterPolls: number,
  ) {}

  private count(reportId: number): ReportCounts {
    let c = this.counts.get(reportId);
    if (!c) {
      c = { undecodable: 0, truncated: 0 };
      this.counts.set(reportId, c);
    }
    return c;
  }

  private warnOnce(reportId: number, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(reportId)) return;
    this.warned.add(reportId);
    this.log.warn({ reportId, ...fields }, `${message} (counted; logged once per report ID)`);
  }

  undecodable(reportId: number, kind: 'answer' | 'input', reason: string, bytes: Uint8Array): void {
    this.count(reportId).undecodable++;
    this.warnOnce(reportId, { kind, reason, length: bytes.length }, 'undecodable HID report ignored');
  }

  truncated(reportId: number, kind: 'answer' | 'input', length: number, declared: number): void {
    this.count(reportId).truncated++;
    this.warnOnce(
      reportId,
      { kind, length, declared },
      'HID report shorter than its descriptor declares: the fields past its end were not read',
    );
  }

  /** The report ID's values were refreshed (a decodable answer or input report). */
  refreshed(reportId: number): void {
    this.missed.set(reportId, 0);
  }

  /** A poll asked for the report ID and got nothing decodable (an ID that never answered holds no value). */
  missedPoll(reportId: number): void {
    const missed = this.missed.get(reportId);
    if (missed !== undefined) this.missed.set(reportId, missed + 1);
  }

  staleReports(): Set<number> {
    const out = new Set<number>();
    for (const [id, n] of this.missed) if (n >= this.staleAfterPolls) out.add(id);
    return out;
  }

  view(): HidReportHealth {
    let undecodable = 0;
    let truncated = 0;
    const byReport: Record<string, ReportCounts> = {};
    for (const [id, c] of [...this.counts].sort((a, b) => a[0] - b[0])) {
      undecodable += c.undecodable;
      truncated += c.truncated;
      byReport[String(id)] = { ...c };
    }
    return {
      undecodable,
      truncated,
      byReport,
      staleReports: [...this.staleReports()].sort((a, b) => a - b),
      staleAfterPolls: this.staleAfterPolls,
    };
  }
}
