/**
 * Real NUT programs for the side-by-side sections: a private dummy-ups + upsd (NUT_CONFPATH in a temp dir,
 * test/interop/nut-sandbox.ts) and a upsmon whose NOTIFYCMD writes a timestamp per event.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  freePort,
  NUT_BIN,
  NutSandbox,
  nutMissing,
  type SandboxProcess,
} from '../test/interop/nut-sandbox.js';
import { sleep } from './measure.js';

export { nutMissing };

/** A notify command for both upsmon (NOTIFYCMD) and the agent (notify.command): `EVENT epoch-ns` per line. */
export function writeNotifyScript(dir: string, name: string): { script: string; marker: string } {
  const script = join(dir, `${name}-notify.sh`);
  const marker = join(dir, `${name}.notified`);
  writeFileSync(script, `#!/bin/sh\necho "$NOTIFYTYPE $(date +%s%N)" >> '${marker}'\n`, { mode: 0o755 });
  return { script, marker };
}

/** The first time (epoch ms) `event` appears in a notify marker after line `from`, or null. */
export function notifiedAt(marker: string, event: string, from: number): number | null {
  if (!existsSync(marker)) return null;
  const lines = readFileSync(marker, 'utf8').split('\n').filter(Boolean).slice(from);
  const hit = lines.find((l) => l.startsWith(`${event} `));
  return hit ? Number(hit.split(' ')[1]) / 1e6 : null;
}

export function markerLines(marker: string): number {
  return existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').filter(Boolean).length : 0;
}

export class NutRig {
  readonly sb = new NutSandbox('upsfleet-bench-nut-');
  port = 0;
  private devFile = '';

  async start(): Promise<void> {
    this.port = await freePort();
    this.sb.configureUpsd({
      port: this.port,
      upsName: 'dummy',
      seq: devText('OL'),
      seqExt: 'dev',
      users: [{ name: 'mon', password: 'benchpw', upsmon: 'secondary' }],
    });
    this.devFile = join(this.sb.confDir, 'dummy.dev');
    // the driver looks at its file once a second (a USB UPS is polled every 2 s by default)
    this.sb.writeConf(
      'ups.conf',
      `[dummy]\n  driver = dummy-ups\n  port = ${this.devFile}\n  pollinterval = 1\n  desc = "bench UPS"\n`,
    );
    this.sb.startDummyUps('dummy');
    await this.sb.startUpsd(this.port);
  }

  /** Rewrites the driver's data file: the UPS itself flips. */
  setStatus(status: string): void {
    writeFileSync(this.devFile, devText(status));
  }

  /** Starts a upsmon (secondary) polling every `pollFreq` s (undefined: NUT's default, 5 s). */
  startUpsmon(name: string, notifyScript: string, pollFreq?: number): SandboxProcess {
    const conf = [
      `MONITOR dummy@127.0.0.1:${this.port} 1 mon benchpw secondary`,
      'MINSUPPLIES 1',
      `SHUTDOWNCMD "/bin/true"`,
      ...(pollFreq === undefined ? [] : [`POLLFREQ ${pollFreq}`, `POLLFREQALERT ${pollFreq}`]),
      `NOTIFYCMD "${notifyScript}"`,
      'NOTIFYFLAG ONBATT EXEC',
      'NOTIFYFLAG ONLINE EXEC',
      `POWERDOWNFLAG ${join(this.sb.stateDir, `${name}.killpower`)}`,
      'RUN_AS_USER root',
      '',
    ].join('\n');
    this.sb.writeConf('upsmon.conf', conf);
    const args = ['-F', '-p'];
    if (!privateRunDirWorks()) return this.sb.spawn(`upsmon-${name}`, NUT_BIN.upsmon, args);
    // upsmon as root keeps its pid file in /run/nut and refuses to start beside another upsmon: a private one
    const runDir = join(this.sb.dir, `${name}-run`);
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    return this.sb.spawn(`upsmon-${name}`, '/usr/bin/unshare', [
      '-m',
      'sh',
      '-c',
      'mount --bind "$0" /run/nut && exec "$@"',
      runDir,
      NUT_BIN.upsmon,
      ...args,
    ]);
  }

  /** The moment upsd starts answering `status` for ups.status (polled every 5 ms), epoch ms. */
  async visibleAt(status: string, timeoutMs = 15_000): Promise<number> {
    const c = await nutClient(this.port);
    try {
      const end = Date.now() + timeoutMs;
      let line = '';
      let rewriteAt = Date.now() + 3000;
      while (Date.now() < end) {
        line = await c.ask('GET VAR dummy ups.status');
        if (line === `VAR dummy ups.status "${status}"`) return performance.timeOrigin + performance.now();
        // dummy-ups re-reads its file when the mtime changed (seconds): a write in the second of the last one may go unseen
        if (Date.now() > rewriteAt) {
          rewriteAt = Number.POSITIVE_INFINITY;
          this.setStatus(status);
        }
        await sleep(5);
      }
      throw new Error(`upsd did not show ups.status ${status} (last: ${line})\n${this.sb.logs()}`);
    } finally {
      c.close();
    }
  }

  async stop(): Promise<void> {
    await this.sb.stop();
  }
}

function devText(status: string): string {
  return `ups.status: ${status}\nbattery.charge: 100\nbattery.runtime: 3600\nups.load: 20\ninput.voltage: 230\n`;
}

let privateRunDir: boolean | undefined;
function privateRunDirWorks(): boolean {
  privateRunDir ??=
    process.getuid?.() === 0 &&
    existsSync('/usr/bin/unshare') &&
    existsSync('/run/nut') &&
    spawnSync('/usr/bin/unshare', ['-m', 'sh', '-c', 'mount --bind /tmp /run/nut'], { stdio: 'ignore' })
      .status === 0;
  return privateRunDir;
}

/** A line-at-a-time NUT client (one request, one reply line). */
export async function nutClient(
  port: number,
): Promise<{ ask(line: string): Promise<string>; close(): void }> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  socket.setNoDelay(true);
  let buf = '';
  let waiting: ((line: string) => void) | null = null;
  socket.on('data', (d: Buffer) => {
    buf += d.toString();
    const i = buf.indexOf('\n');
    if (i >= 0 && waiting) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting;
      waiting = null;
      w(line);
    }
  });
  return {
    ask(line) {
      return new Promise((resolve) => {
        waiting = resolve;
        socket.write(`${line}\n`);
      });
    },
    close() {
      socket.destroy();
    },
  };
}
