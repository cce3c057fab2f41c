/** Test helpers for the trust tests: a real Master with TLS on 127.0.0.1:0 and a log-capturing logger. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { keygen } from '../../../cli/commands/keygen.js';
import { Master } from '../../../master/master.js';
import { parseMasterSettings } from '../../../shared/config/master-settings.js';
import { silentLogger } from '../../../shared/logger.js';

export interface CapturedLogger {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined;
}

export function captureLogger(): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, find: (p) => lines.find(p) };
}

export interface TlsMaster {
  master: Master;
  dir: string;
  url: string;
  http: string;
  fingerprint: string;
  certPem: string;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A master on a simulated UPS with the key/cert of `upsfleet keygen` in its stateDir. */
export async function startTlsMaster(
  yamlExtra: string[] = [],
  logger: Logger = silentLogger(),
  dir = tempDir('upsfleet-trust-'),
): Promise<TlsMaster> {
  const certFile = join(dir, 'state', 'tls', 'master.crt');
  const kg = keygen({
    certFile,
    keyFile: join(dir, 'state', 'tls', 'master.key'),
    names: [],
    commonName: 'upsfleet test master',
    force: true,
  });
  const settings = parseMasterSettings(
    [
      'master: { id: trust-test, listen: "127.0.0.1:0", stateDir: state, mdns: false }',
      'ups:',
      '  source: { type: simulated, script: "ups.status: OL CHRG\\nbattery.charge: 97" }',
      'sequence: [ { groups: [app] }, { groups: [db] } ]',
      'shutdown: { dryRun: true }',
      ...yamlExtra,
    ].join('\n'),
    join(dir, 'master.yaml'),
  );
  const master = new Master(settings, { logger });
  const addr = await master.start();
  const { readFileSync } = await import('node:fs');
  return {
    master,
    dir,
    url: `wss://127.0.0.1:${addr.port}/ws`,
    http: `https://127.0.0.1:${addr.port}`,
    fingerprint: kg.fingerprint,
    certPem: readFileSync(certFile, 'utf8'),
  };
}
