/**
 * NUT server throughput: LIST VAR replies per second from Debian's upsd (dummy-ups behind it) and from
 * the master's NUT server serving the very same variables, to a client that acknowledges at once
 * (bench/listvar-client.py: TCP_NODELAY + TCP_QUICKACK), on one connection and on 50.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NUT_BIN, run } from '../test/interop/nut-sandbox.js';
import { closeAdmin, startMaster } from './fanout.js';
import { NutRig, nutMissing } from './nut-tools.js';

const CLIENT = fileURLToPath(new URL('../../bench/listvar-client.py', import.meta.url));

export interface ListVarResult {
  server: string;
  connections: number;
  perSecond: number;
  linesPerReply: number;
}

function load(port: number, ups: string, connections: number, seconds: number): Promise<ListVarResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'python3',
      [CLIENT, String(port), ups, String(connections), String(seconds)],
      (err, out, errOut) => {
        if (err) return reject(new Error(`LIST VAR client: ${errOut || err.message}`));
        const r = JSON.parse(out) as { requests: number; seconds: number; lines: number };
        resolve({ server: '', connections, perSecond: r.requests / r.seconds, linesPerReply: r.lines });
      },
    );
  });
}

/** Both servers at 1 and 50 connections; a string saying why when NUT is not installed. */
export async function listVar(seconds: number): Promise<ListVarResult[] | string> {
  const missing = nutMissing(['upsd', 'dummyUps', 'upsc']);
  if (missing) return missing;
  if (spawnSync('python3', ['--version']).status !== 0)
    return 'python3 not installed: the LIST VAR client (bench/listvar-client.py) needs it';
  const rig = new NutRig();
  const results: ListVarResult[] = [];
  let vars = '';
  try {
    await rig.start();
    const upsc = await run(NUT_BIN.upsc, [`dummy@127.0.0.1:${rig.port}`], rig.sb.env);
    vars = upsc.stdout;
    for (const n of [1, 50]) results.push({ ...(await load(rig.port, 'dummy', n, seconds)), server: 'upsd' });
  } finally {
    await rig.stop();
  }
  // the master serves the same variables, as its simulated UPS
  const m = await startMaster([], [], {
    sections: {
      ups: { name: 'dummy', source: { type: 'simulated', script: vars } },
      // 50 connections from 127.0.0.1: above the default per-address limit (32)
      nut: { listen: '127.0.0.1:0', maxConnections: 200, maxConnectionsPerAddress: 64 },
    },
  });
  try {
    const port = Number(m.nut!.split(':').at(-1));
    for (const n of [1, 50]) results.push({ ...(await load(port, 'dummy', n, seconds)), server: 'upsfleet' });
  } finally {
    closeAdmin(m);
    await m.stop();
  }
  return results;
}
