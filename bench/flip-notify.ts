/**
 * A UPS flip until a host's notify command runs, NUT against upsfleet on this machine:
 *  - NUT: dummy-ups's data file flips; from the moment upsd shows the new ups.status (a 5 ms poller) to
 *    upsmon's NOTIFYCMD, at upsmon's default POLLFREQ (5 s) and at POLLFREQ 1;
 *  - upsfleet: the master's UPS flips (admin simulate over a kept-alive connection); to the notify
 *    command of a real agent process, started as its systemd unit starts it (bench/footprint.ts).
 * Both run the same notify script (it writes NOTIFYTYPE and the time in ns). Also each side's RSS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, closeAdmin, startMaster } from './fanout.js';
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

export async function upsfleetFlip(
  rounds: number,
): Promise<FlipResult & { agentIdleRssMiB: number; agentIdlePrivateMiB: number; nodeFlags: string[] }> {
  const m = await startMaster([{ id: 'host1', group: 'app' }], [{ groups: ['app'] }]);
  let agent: ChildProcess | null = null;
  try {
    const { script, marker } = writeNotifyScript(m.dir, 'agent');
    const configFile = join(m.dir, 'agent.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        agent: {
          id: 'host1',
          group: 'app',
          token: m.tokens.get('host1'),
          stateDir: join(m.dir, 'agent-state'),
        },
        master: { urls: [m.ws], fingerprint: m.fingerprint },
        notify: { command: [script] },
        shutdown: { dryRun: true, marker: join(m.dir, 'agent.poweroff') },
        log: { level: 'warn' },
      }),
    );
    const cmd = agentCommand(configFile);
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
    agent = child;
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    // welcomed once the master lists it connected
    await waitConnected(m.http, m.certPem, m.adminToken);
    // idle: connected, nothing happening, for a while (the footprint an operator sees in `systemctl status`)
    await sleep(5000);
    const idleRss = rssMiB(child.pid!);
    const idlePrivate = privateMiB(child.pid!);
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [status, event] of [
        ['OB DISCHRG', 'ONBATT'],
        ['OL', 'ONLINE'],
      ] as const) {
        const from = markerLines(marker);
        const t0 = nowMs();
        await admin(m, '/api/simulate', { name: 'ups.status', value: status });
        const at = await waitNotified(marker, event, from, 10_000);
        if (event === 'ONBATT') samples.push(at - t0);
        await sleep(100);
      }
    }
    return {
      ...summary('upsfleet agent', samples, rssMiB(child.pid!)),
      agentIdleRssMiB: idleRss,
      agentIdlePrivateMiB: idlePrivate,
      nodeFlags: agentUnitNodeFlags(),
    };
  } finally {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    closeAdmin(m);
    await m.stop();
  }
}

async function waitConnected(http: string, ca: string, token: string): Promise<void> {
  const { request } = await import('node:https');
  for (let i = 0; i < 400; i++) {
    const connected = await new Promise<boolean>((resolve) => {
      const req = request(`${http}/status`, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => {
          t += d;
        });
        res.on('end', () => resolve(/"connected":\s*true/.test(t)));
      });
      req.once('error', () => resolve(false));
      req.end();
    });
    if (connected) return;
    await sleep(50);
  }
  throw new Error('the agent did not connect');
}
