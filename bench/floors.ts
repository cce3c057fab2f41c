/**
 * Node.js's own floor under the fan-out figures, on this machine: a bare WebSocket server over TLS (ws on
 * https, what the master's agent port is built on, without upsfleet) sending one message to N connections
 * whose clients live in another process, as bench/fanout.ts's agents do. Run with one server process and
 * with two (node:cluster on one port: the second core), it says what the per-socket TLS writes cost and
 * whether splitting them across processes helps when the machine has two cores; its RSS with N
 * connections is the memory any Node.js TLS server pays before holding any state of its own.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keygen } from '../cli/commands/keygen.js';
import { median } from './measure.js';

const PEER = fileURLToPath(new URL('./floor-peer.js', import.meta.url));

export interface FloorResult {
  agents: number;
  serverProcesses: number;
  /** Median over rounds of each round's p99 arrival, and the worst arrival of any round (ms). */
  p99Ms: number;
  maxMs: number;
  /** Anonymous RSS of the server process(es) with every connection open (MiB). */
  serverRssMiB: number;
}

export async function bareFanout(agents: number, serverProcesses: number, rounds = 12): Promise<FloorResult> {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-floor-'));
  try {
    const tls = { certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem') };
    keygen({ ...tls, names: ['127.0.0.1'], commonName: 'floor', force: true });
    const child = fork(PEER, [], {
      env: {
        ...process.env,
        FLOOR_ROLE: 'primary',
        FLOOR_AGENTS: String(agents),
        FLOOR_WORKERS: String(serverProcesses),
        FLOOR_ROUNDS: String(rounds),
        FLOOR_CERT: tls.certFile,
        FLOOR_KEY: tls.keyFile,
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    try {
      const got = await new Promise<{ p99s: number[]; maxes: number[]; serverRssMiB: number }>(
        (resolve, reject) => {
          child.once('message', (m) =>
            resolve(m as { p99s: number[]; maxes: number[]; serverRssMiB: number }),
          );
          child.once('exit', (code) =>
            reject(new Error(`the floor benchmark ended (${code}) before reporting`)),
          );
        },
      );
      return {
        agents,
        serverProcesses,
        p99Ms: median(got.p99s),
        maxMs: Math.max(...got.maxes),
        serverRssMiB: got.serverRssMiB,
      };
    } finally {
      child.kill('SIGKILL');
      process.off('exit', killOnExit);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
