/**
 * The processes of bench/floors.ts, by FLOOR_ROLE:
 *   primary  forks FLOOR_WORKERS server processes (node:cluster, one listening port shared) and one clients
 *            process; arms a round, tells every server to send, collects the arrival times; reports
 *            { p99s, maxes, serverRssMiB } to its parent over IPC and exits.
 *   server   a bare WebSocket server over TLS (ws on https, the master's own libraries, nothing of upsfleet):
 *            on { t0 } it sends one ~200-byte message, built once, to each of its connections.
 *   clients  FLOOR_AGENTS plain ws clients; the arrival of each message is taken when it is read.
 */

import { fork } from 'node:child_process';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';

const SELF = fileURLToPath(import.meta.url);
const now = () => performance.timeOrigin + performance.now();
const role = process.env.FLOOR_ROLE ?? 'primary';
const agents = Number(process.env.FLOOR_AGENTS ?? 1000);
const rounds = Number(process.env.FLOOR_ROUNDS ?? 12);

function anonMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

async function clients(): Promise<void> {
  const port = Number(process.env.FLOOR_PORT);
  const ca = readFileSync(process.env.FLOOR_CERT!, 'utf8');
  let arrivals: number[] = [];
  const connect = () =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca });
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.on('message', (data) => {
        const at = now();
        arrivals.push(at - (JSON.parse(String(data)) as { t0: number }).t0);
        if (arrivals.length === agents) process.send!({ arrivals });
      });
    });
  for (let i = 0; i < agents; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, agents - i) }, connect));
  }
  process.on('message', () => {
    arrivals = [];
    process.send!('armed');
  });
  process.send!('up');
}

function server(): void {
  const https = createServer({
    key: readFileSync(process.env.FLOOR_KEY!),
    cert: readFileSync(process.env.FLOOR_CERT!),
  });
  const wss = new WebSocketServer({ server: https });
  const connections: WebSocket[] = [];
  wss.on('connection', (ws) => connections.push(ws));
  process.on('message', (m: { t0: number }) => {
    const payload = JSON.stringify({
      type: 'state-delta',
      t0: m.t0,
      changed: { 'battery.charge': '97' },
      pad: 'x'.repeat(120),
    });
    for (const ws of connections) ws.send(payload);
  });
  // port 0 in every worker: the cluster's primary picks one and shares it
  https.listen(0, '127.0.0.1');
}

function primary(): void {
  const workers = Number(process.env.FLOOR_WORKERS ?? 1);
  cluster.setupPrimary({ exec: SELF });
  let port = 0;
  const servers = Array.from({ length: workers }, () => cluster.fork({ FLOOR_ROLE: 'server' }));
  let listening = 0;
  const stop = () => {
    for (const w of servers) w.kill('SIGKILL');
  };
  process.once('exit', stop);
  for (const w of servers)
    w.once('listening', (address: { port: number }) => {
      port = address.port;
      if (++listening < workers) return;
      const c = fork(SELF, [], { env: { ...process.env, FLOOR_ROLE: 'clients', FLOOR_PORT: String(port) } });
      process.once('exit', () => c.kill('SIGKILL'));
      const p99s: number[] = [];
      const maxes: number[] = [];
      let serverRssMiB = 0;
      let round = 0;
      c.on('message', (m: 'up' | 'armed' | { arrivals: number[] }) => {
        if (m === 'armed') {
          const t0 = now();
          for (const s of servers) s.send({ t0 });
          return;
        }
        if (m === 'up') serverRssMiB = servers.reduce((sum, s) => sum + anonMiB(s.process.pid!), 0);
        else {
          const sorted = m.arrivals.sort((a, b) => a - b);
          // the first two rounds warm the code up
          if (round > 2) {
            p99s.push(sorted[Math.ceil(sorted.length * 0.99) - 1]!);
            maxes.push(sorted.at(-1)!);
          }
        }
        if (round++ > rounds + 1) {
          process.send!({ p99s, maxes, serverRssMiB });
          c.kill('SIGKILL');
          stop();
          process.exit(0);
        }
        setTimeout(() => c.send('arm'), agents >= 5000 ? 300 : 50);
      });
    });
}

if (role === 'clients') void clients();
else if (role === 'server') server();
else primary();
