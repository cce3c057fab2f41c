/**
 * The source's read health as Prometheus series, registered beside the master's own (servers/metrics.ts)
 * and read at scrape time from the same view /status serves (`ups.sourceHealth`): HID reports that could not
 * be decoded or came short, per report ID, and the variables whose value is stale.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SourceHealth } from './source.js';

export function registerSourceHealthMetrics(registry: Registry, view: () => SourceHealth | undefined): void {
  new Counter({
    name: 'upsfleet_source_reports_undecodable_total',
    help: 'HID reports from the UPS that could not be decoded (unknown report ID, empty, codec error), by report ID',
    labelNames: ['report'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [report, c] of Object.entries(view()?.byReport ?? {}))
        if (c.undecodable > 0) this.inc({ report }, c.undecodable);
    },
  });
  new Counter({
    name: 'upsfleet_source_reports_truncated_total',
    help: 'HID reports from the UPS shorter than their descriptor declares (fields past the end not read), by report ID',
    labelNames: ['report'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [report, c] of Object.entries(view()?.byReport ?? {}))
        if (c.truncated > 0) this.inc({ report }, c.truncated);
    },
  });
  new Gauge({
    name: 'upsfleet_ups_variable_stale',
    help: 'Variables whose report the UPS did not refresh for the last staleAfterPolls polls (1 each; value kept)',
    labelNames: ['variable'],
    registers: [registry],
    collect() {
      this.reset();
      for (const variable of view()?.staleVariables ?? []) this.set({ variable }, 1);
    },
  });
}
