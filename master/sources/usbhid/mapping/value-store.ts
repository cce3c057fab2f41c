/**
 * The latest decoded value of every field, tagged with the batch (one poll sweep or one input report)
 * that produced it. When two paths can answer the same question, the one from the newer batch wins, so an
 * interrupt report that updates only one copy of ACPresent is not hidden by a stale copy elsewhere.
 */

import { decodeReport } from '../hid/report-codec.js';
import type { ReportDescriptor, ReportField, ReportType } from '../hid/report-descriptor.js';

export interface StoredValue {
  value: number;
  batch: number;
  field: ReportField;
}

export class ValueStore {
  private readonly values = new Map<ReportField, StoredValue>();
  private readonly rawFeature = new Map<number, Uint8Array>();
  private batch = 0;

  constructor(private readonly descriptor: ReportDescriptor) {}

  /** Starts a new batch; reports applied until the next call belong to it. */
  beginBatch(): void {
    this.batch++;
  }

  /** Decodes one report and records every field it carries. Throws HID_REPORT on an undecodable report. */
  apply(type: ReportType, report: Uint8Array): number {
    const decoded = decodeReport(this.descriptor, type, report);
    for (const { field, value } of decoded) {
      this.values.set(field, { value, batch: this.batch, field });
    }
    if (type === 'Feature' && report.length > 0) {
      this.rawFeature.set(this.descriptor.usesReportIds ? report[0]! : 0, Uint8Array.from(report));
    }
    return decoded.length;
  }

  get(field: ReportField): StoredValue | undefined {
    return this.values.get(field);
  }

  /** The last bytes read for a feature report, used as the base when writing one of its fields. */
  lastFeatureReport(reportId: number): Uint8Array | undefined {
    return this.rawFeature.get(reportId);
  }
}
