/**
 * A UPS flip until a host's notify command runs, NUT against upsfleet on this machine:
 *  - NUT: dummy-ups's data file flips; from the moment upsd shows the new ups.status (a 5 ms poller) to
 *    upsmon's NOTIFYCMD, at upsmon's default POLLFREQ (5 s) and at POLLFREQ 1;
 *  - upsfleet: the master's UPS flips (admin simulate over a kept-alive connection); to the notify
 *    command of a real agent process, started as its systemd unit starts it (bench/footprint.ts).
 * Both run the same notify script (it writes NOTIFYTYPE and the time in ns). Also each side's RSS, the same
 * flip to the agent's webhook (a POST to this process: the push without starting a process), and what
 * starting that script costs a bare `node` on this machine (the floor under any notify command).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { admin, closeAdmin, type MasterUnderTest, startMaster } from './fanout.js';
import { agentCommand, agentUnitNodeFlags } from './footprint.js';
import { median, nowMs, percentile, privateMiB, rssMiB, sleep } from './measure.js';
import { markerLines, NutRig, notifiedAt, nutMissing, writeNotifyScript } from './nut-tools.js';

export interface FlipResult {
  label: string;
  samplesMs: number[];
  p50: number;
  max: number;
  /** RSS of the process that watches the UPS on the host (upsmon / the agent), MiB. */
  watcherRssMiB: number;
}

async function waitNotified(marker: string, event: string, from: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const at = notifiedAt(marker, event, from);
    if (at !== null) return at;
    if (Date.now() > end) throw new Error(`no ${event} notification within ${timeoutMs} ms`);
    await sleep(2);
  }
}

function summary(label: string, samplesMs: number[], watcherRssMiB: number): FlipResult {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { label, samplesMs, p50: median(sorted), max: percentile(sorted, 100), watcherRssMiB };
}

/** NUT: null (with the reason) when its programs are not installed. */
export async function nutFlip(pollFreq: number | undefined, rounds: number): Promise<FlipResult | string> {
  const missing = nutMissing(['upsd', 'upsmon', 'dummyUps', 'upsc']);
  if (missing) return missing;
  const rig = new NutRig();
  try {
    await rig.start();
    const { script, marker } = writeNotifyScript(rig.sb.dir, 'upsmon');
    const upsmon = rig.startUpsmon('bench', script, pollFreq);
    // upsmon has logged in and polled once when it reports nothing for OL: give it two poll periods
    await sleep(((pollFreq ?? 5) * 2 + 1) * 1000);
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [status, event] of [
        ['OB DISCHRG', 'ONBATT'],
        ['OL', 'ONLINE'],
      ] as const) {
        const from = markerLines(marker);
        rig.setStatus(status);
        const visible = await rig.visibleAt(status);
        const at = await waitNotified(marker, event, from, 30_000);
        if (event === 'ONBATT') samples.push(at - visible);
      }
    }
    const rss = rssMiB(upsmon.child.pid!);
    return summary(`NUT upsmon, POLLFREQ ${pollFreq ?? '5 (default)'}`, samples, rss);
  } finally {
    await rig.stop();
  }
}

export interface UpsfleetFlipResult extends FlipResult {
  agentIdleRssMiB: number;
  agentIdlePrivateMiB: number;
  nodeFlags: string[];
  /** The same flips until the agent's webhook POST for ONBATT reached this process. */
  webhookP50: number;
  /** A bare `node` spawning the notify script until the script's own timestamp, median. */
  spawnFloorP50: number;
}

/** A loopback HTTP server that notes when each webhook POST has arrived whole, by event. */
async function webhookSink(): Promise<{
  server: Server;
  url: string;
  arrivals: Array<{ event: string; at: number }>;
}> {
  const arrivals: Array<{ event: string; at: number }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d;
    });
    req.on('end', () => {
      const at = nowMs();
      const event = (JSON.parse(body) as { event?: string }).event ?? '';
      arrivals.push({ event, at });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, arrivals };
}

/** What starting the notify script costs a bare `node` here: spawn until the script's timestamp. */
async function spawnFloor(script: string, marker: string, rounds: number): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const from = markerLines(marker);
    const t0 = nowMs();
    const child = spawn(script, [], { env: { ...process.env, NOTIFYTYPE: 'FLOOR' }, stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    const at = notifiedAt(marker, 'FLOOR', from);
    if (at !== null) samples.push(at - t0);
  }
  return median(samples);
}

/** A real agent process started as its unit starts it, stopped by `stop`. */
function startAgent(m: MasterUnderTest, id: string, notify: Record<string, unknown>): ChildProcess {
  const configFile = join(m.dir, `${id}.yaml`);
  writeFileSync(
    configFile,
    JSON.stringify({
      agent: { id, group: 'app', token: m.tokens.get(id), stateDir: join(m.dir, `${id}-state`) },
      master: { urls: [m.ws], fingerprint: m.fingerprint },
      notify,
      shutdown: { dryRun: true, marker: join(m.dir, `${id}.poweroff`) },
      log: { level: 'warn' },
    }),
  );
  const cmd = agentCommand(configFile);
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  return child;
}

async function stopAgent(agent: ChildProcess): Promise<void> {
  if (agent.exitCode !== null) return;
  const exited = new Promise((r) => agent.once('exit', r));
  agent.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
}

/**
 * Two agents on one master: host1 runs the notify script (the figure beside upsmon's NOTIFYCMD), host2 only
 * posts a webhook. Apart because starting a process blocks the agent's thread for the fork: a webhook
 * posted by the same agent would wait for it.
 */
export async function upsfleetFlip(rounds: number): Promise<UpsfleetFlipResult> {
  const m = await startMaster(
    [
      { id: 'host1', group: 'app' },
      { id: 'host2', group: 'app' },
    ],
    [{ groups: ['app'] }],
  );
  const agents: ChildProcess[] = [];
  const sink = await webhookSink();
  try {
    const { script, marker } = writeNotifyScript(m.dir, 'agent');
    const commandAgent = startAgent(m, 'host1', { command: [script] });
    agents.push(commandAgent);
    agents.push(startAgent(m, 'host2', { webhooks: [{ url: sink.url, events: ['ONBATT'], retries: 0 }] }));
    // welcomed once the master lists them connected
    await waitConnected(m.http, m.certPem, m.adminToken, 2);
    // idle: connected, nothing happening, for a while (the footprint an operator sees in `systemctl status`)
    await sleep(5000);
    const idleRss = rssMiB(commandAgent.pid!);
    const idlePrivate = privateMiB(commandAgent.pid!);
    const samples: number[] = [];
    const hooked: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [status, event] of [
        ['OB DISCHRG', 'ONBATT'],
        ['OL', 'ONLINE'],
      ] as const) {
        const from = markerLines(marker);
        const hooksBefore = sink.arrivals.length;
        const t0 = nowMs();
        await admin(m, '/api/simulate', { name: 'ups.status', value: status });
        const at = await waitNotified(marker, event, from, 10_000);
        if (event === 'ONBATT') {
          samples.push(at - t0);
          for (let i = 0; i < 2_500 && sink.arrivals.length === hooksBefore; i++) await sleep(2);
          const hook = sink.arrivals.slice(hooksBefore).find((a) => a.event === 'ONBATT');
          if (!hook) throw new Error('no ONBATT webhook within 5 s');
          hooked.push(hook.at - t0);
        }
        await sleep(100);
      }
    }
    return {
      ...summary('upsfleet agent', samples, rssMiB(commandAgent.pid!)),
      agentIdleRssMiB: idleRss,
      agentIdlePrivateMiB: idlePrivate,
      nodeFlags: agentUnitNodeFlags(),
      webhookP50: median(hooked),
      spawnFloorP50: await spawnFloor(script, marker, rounds),
    };
  } finally {
    sink.server.close();
    await Promise.all(agents.map(stopAgent));
    closeAdmin(m);
    await m.stop();
  }
}

async function waitConnected(http: string, ca: string, token: string, count: number): Promise<void> {
  const { request } = await import('node:https');
  for (let i = 0; i < 400; i++) {
    const connected = await new Promise<boolean>((resolve) => {
      const req = request(`${http}/status`, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => {
          t += d;
        });
        res.on('end', () => resolve((t.match(/"connected":\s*true/g) ?? []).length >= count));
      });
      req.once('error', () => resolve(false));
      req.end();
    });
    if (connected) return;
    await sleep(50);
  }
  throw new Error(`the ${count} agents did not connect`);
}
