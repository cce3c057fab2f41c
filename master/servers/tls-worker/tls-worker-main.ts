/** Entry point of a TLS worker process (forked by tls-worker-pool.ts from the compiled tree or the sources). */
import { runTlsWorker } from './tls-worker.js';

runTlsWorker();
