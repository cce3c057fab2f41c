/**
 * The waker's Prometheus series, registered beside the master's own (servers/metrics.ts), read at scrape
 * time from the same view /status serves: hosts woken per group, means and result; woken hosts back.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WakeView } from './waker.js';

export function registerWakeMetrics(registry: Registry, view: () => WakeView): void {
  new Counter({
    name: 'upsfleet_wake_total',
    help: 'Hosts of early groups woken after mains returned (last wake per group), by means and result (ok, failed, unknown: the master stopped while sending)',
    labelNames: ['group', 'via', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of view().groups) {
        if (g.phase !== 'sent') continue;
        for (const h of g.hosts ?? [])
          for (const via of h.via) {
            const r = h.results[via];
            this.inc({ group: g.group, via, result: r === undefined ? 'unknown' : r.ok ? 'ok' : 'failed' });
          }
      }
    },
  });
  new Gauge({
    name: 'upsfleet_wake_hosts_back',
    help: 'Woken hosts of early groups that connected again (last wake per group)',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of view().groups)
        if (g.phase === 'sent')
          this.set(
            { group: g.group },
            (g.hosts ?? []).filter((h) => h.via.length > 0 && h.backAt !== null).length,
          );
    },
  });
  new Gauge({
    name: 'upsfleet_wake_pending',
    help: '1 while a wake of the group waits for mains to have been back long enough or for the charge',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of view().groups) this.set({ group: g.group }, g.phase === 'pending' ? 1 : 0);
    },
  });
}
