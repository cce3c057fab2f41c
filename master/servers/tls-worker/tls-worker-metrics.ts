/** /metrics for the TLS worker processes (`master.tlsWorkers`): registered only when there are some. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TlsWorkerView } from './tls-worker-pool.js';

export function registerTlsWorkerMetrics(registry: Registry, view: () => TlsWorkerView[]): void {
  const perWorker = (name: string, help: string, value: (w: TlsWorkerView) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [i, w] of view().entries()) this.set({ worker: String(i) }, value(w));
      },
    });
  perWorker('upsfleet_tls_worker_up', '1 while the TLS worker process takes connections', (w) =>
    w.ready ? 1 : 0,
  );
  perWorker(
    'upsfleet_tls_worker_connections',
    'Connections handed to the TLS worker and not closed yet',
    (w) => w.connections,
  );
  perWorker('upsfleet_tls_worker_links', 'Agent links the TLS worker carries', (w) => w.links);
  new Counter({
    name: 'upsfleet_tls_worker_restarts_total',
    help: 'Times the TLS worker was started again after it died or stopped answering',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [i, w] of view().entries()) this.inc({ worker: String(i) }, w.restarts);
    },
  });
}
