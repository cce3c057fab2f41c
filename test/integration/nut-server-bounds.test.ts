/**
 * The NUT port under abuse, against the real master process (issue 14): a client that pipelines 60,000
 * `LIST VAR ups` without reading grows the master by less than 10 MiB (VmRSS from /proc), others are still
 * served and it is dropped at the idle timeout; a client that trickles bytes without ever ending a command
 * is dropped at the idle timeout; plaintext sent after STARTTLS (read before the TLS handshake) is never
 * executed inside the TLS session.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { launchFleet, type RunningFleet } from '../../cli/demo/fleet-launcher.js';

// what a usbhid-ups Smart-UPS reports (about as many variables as a real LIST VAR carries)
const TIMELINE = `${[
  'ups.status: OL CHRG',
  'battery.charge: 100',
  'battery.charge.low: 10',
  'battery.charge.warning: 50',
  'battery.date: 2001/09/25',
  'battery.mfr.date: 2019/03/14',
  'battery.runtime: 1800',
  'battery.runtime.low: 120',
  'battery.type: PbAc',
  'battery.voltage: 54.9',
  'battery.voltage.nominal: 48.0',
  'device.mfr: American Power Conversion',
  'device.model: Smart-UPS 3000 RM XL',
  'device.serial: AS1234567890',
  'device.type: ups',
  'driver.name: usbhid-ups',
  'driver.parameter.pollfreq: 30',
  'driver.parameter.pollinterval: 2',
  'driver.parameter.port: auto',
  'driver.version: 2.8.0',
  'driver.version.data: APC HID 0.98',
  'driver.version.internal: 0.47',
  'input.sensitivity: high',
  'input.transfer.high: 253',
  'input.transfer.low: 208',
  'input.transfer.reason: input voltage out of range',
  'input.voltage: 230.4',
  'input.voltage.nominal: 230',
  'output.current: 4.10',
  'output.frequency: 50.0',
  'output.voltage: 230.4',
  'output.voltage.nominal: 230',
  'ups.beeper.status: enabled',
  'ups.delay.shutdown: 20',
  'ups.delay.start: 30',
  'ups.firmware: UPS 09.3 / ID=18',
  'ups.load: 31',
  'ups.mfr: American Power Conversion',
  'ups.mfr.date: 2019/03/14',
  'ups.model: Smart-UPS 3000 RM XL',
  'ups.power.nominal: 3000',
  'ups.productid: 0003',
  'ups.realpower.nominal: 2700',
  'ups.serial: AS1234567890',
  'ups.test.result: No test initiated',
  'ups.timer.reboot: -1',
  'ups.timer.shutdown: -1',
  'ups.timer.start: -1',
  'ups.vendorid: 051d',
].join('\n')}\n`;

/** A master with a NUT server on 127.0.0.1:0 (TLS on: STARTTLS answered) and no agent process. */
async function nutMaster(dir: string, nut: Record<string, unknown> = {}): Promise<RunningFleet> {
  return launchFleet({
    dir,
    groups: [{ name: 'app', agents: ['app1'], external: true }],
    sequence: [{ groups: ['app'], deadline: '20s' }],
    timeline: TIMELINE,
    masterExtra: { nut: { listen: '127.0.0.1:0', ...nut } },
  });
}

function nutPort(fleet: RunningFleet): number {
  const info = JSON.parse(readFileSync(join(fleet.dir, 'master', 'state', 'master.json'), 'utf8')) as {
    nut?: string;
  };
  assert.ok(info.nut, 'master.json has no nut address');
  return Number(info.nut.slice(info.nut.lastIndexOf(':') + 1));
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** CPU time the process used so far (utime + stime, in clock ticks: 1/100 s on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends one command and collects reply lines until `done` says the reply is complete. */
function ask(
  s: Socket | import('node:tls').TLSSocket,
  line: string,
  done: (l: string) => boolean,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const out: string[] = [];
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        out.push(l);
        if (done(l)) {
          s.off('data', onData);
          s.off('close', onClose);
          resolve(out);
          return;
        }
      }
    };
    const onClose = () => reject(new Error(`connection closed after ${JSON.stringify(out)}`));
    s.on('data', onData);
    s.once('close', onClose);
    s.write(`${line}\n`);
  });
}

/** Pipelines `n` LIST VAR and reads every reply (a well-behaved client under the same load as the hog). */
async function pipelinedAndRead(s: Socket, n: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    let ends = 0;
    s.once('close', () => reject(new Error(`closed after ${ends} of ${n} replies`)));
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const nl = buf.lastIndexOf('\n');
      if (nl < 0) return;
      const part = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      ends += part.split('END LIST').length - 1;
      if (ends >= n) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.write('LIST VAR ups\n'.repeat(n));
  });
}

const listVar = (s: Socket) => ask(s, 'LIST VAR ups', (l) => l.startsWith('END LIST') || l.startsWith('ERR'));

function closedWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NUT port bounds (real master process)', () => {
  let dir: string;
  let fleet: RunningFleet;
  let port: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-nut-bounds-'));
    fleet = await nutMaster(dir, { idleTimeout: 20 });
    port = nutPort(fleet);
  });
  after(async () => {
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('60,000 pipelined LIST VAR from a client that never reads: master grows < 10 MiB, others served', {
    timeout: 90_000,
  }, async (t) => {
    const pid = fleet.master.pid!;
    // warm up: the baseline is the master serving the same load to a client that reads its replies (the
    // V8 young generation grows to its working size, ~18 MiB on a dist build); what the hog adds on top of
    // that is what it makes the master keep
    const probe = await open(port);
    for (let i = 0; i < 50; i++) assert.match((await listVar(probe)).at(-1)!, /^END LIST VAR ups$/);
    const cold = rssKiB(pid);
    await pipelinedAndRead(probe, 20_000);
    t.diagnostic(`master VmRSS ${cold} kB cold, ${rssKiB(pid)} kB after serving 20,000 LIST VAR to a reader`);
    await sleep(1000);
    const before = rssKiB(pid);

    const hog = await open(port);
    hog.pause(); // reads nothing, ever
    hog.on('error', () => {});
    hog.write('LIST VAR ups\n'.repeat(60_000));
    // wait until the master takes no more of it (or took it all), then a little longer
    // watch until the master is done with it: no more taken from the client, and the master idle again
    let last = -1;
    let during = before;
    let cpu = cpuTicks(pid);
    for (let quiet = 0; quiet < 4; ) {
      await sleep(500);
      during = Math.max(during, rssKiB(pid));
      const left = hog.writableLength;
      const nowCpu = cpuTicks(pid);
      quiet = left === last && nowCpu - cpu <= 10 ? quiet + 1 : 0;
      last = left;
      cpu = nowCpu;
    }
    during = Math.max(during, rssKiB(pid));
    // another client is still served while the hog waits
    const reply = await listVar(probe);
    assert.equal(reply[0], 'BEGIN LIST VAR ups');
    assert.ok(reply.some((l) => l.startsWith('VAR ups ups.status ')));
    const grownMiB = (during - before) / 1024;
    t.diagnostic(`master VmRSS ${before} kB before, ${during} kB at most while the client did not read`);
    assert.ok(
      grownMiB < 10,
      `the master grew by ${grownMiB.toFixed(1)} MiB (from ${before} kB to ${during} kB)`,
    );
    probe.destroy();
    hog.destroy();
  });

  test('plaintext pipelined after STARTTLS is discarded, never executed inside TLS', {
    timeout: 30_000,
  }, async () => {
    const raw = await open(port);
    raw.on('error', () => {});
    // the injected commands arrive in the same segment as STARTTLS, before the handshake
    const ok = await new Promise<string>((resolve) => {
      let buf = '';
      const onData = (d: Buffer) => {
        buf += d.toString('latin1');
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          raw.off('data', onData);
          raw.pause();
          resolve(buf.slice(0, nl));
        }
      };
      raw.on('data', onData);
      raw.write('STARTTLS\nSET TRACKING ON\nUSERNAME injected\n');
    });
    assert.equal(ok, 'OK STARTTLS');
    const tls = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    // the first reply inside TLS is the answer to the first command sent inside TLS
    assert.deepEqual(
      await ask(tls, 'GET TRACKING', () => true),
      ['OFF'],
      'a command sent in clear after STARTTLS ran inside the TLS session',
    );
    assert.deepEqual(await ask(tls, 'USERNAME mine', () => true), ['OK'], 'USERNAME was already set');
    tls.destroy();
  });
});

describe('NUT idle timeout (real master process)', () => {
  let dir: string;
  let fleet: RunningFleet;
  let port: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-nut-idle-'));
    fleet = await nutMaster(dir, { idleTimeout: 2 });
    port = nutPort(fleet);
  });
  after(async () => {
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client trickling bytes that never end a command is dropped; one sending commands is kept', {
    timeout: 60_000,
  }, async () => {
    const trickler = await open(port);
    trickler.on('error', () => {});
    const talker = await open(port);
    const timer = setInterval(() => {
      if (!trickler.destroyed) trickler.write('X');
    }, 300);
    const stop = setInterval(() => {
      if (!talker.destroyed) talker.write('VER\n');
    }, 500);
    try {
      assert.ok(await closedWithin(trickler, 15_000), 'the trickling client was still connected after 15 s');
      assert.ok(!talker.destroyed, 'the client sending whole commands was dropped');
    } finally {
      clearInterval(timer);
      clearInterval(stop);
      trickler.destroy();
      talker.destroy();
    }
  });

  test('a client that stalls after STARTTLS (no TLS handshake) is dropped', { timeout: 60_000 }, async () => {
    const s = await open(port);
    s.on('error', () => {});
    assert.deepEqual(await ask(s, 'STARTTLS', () => true), ['OK STARTTLS']);
    assert.ok(
      await closedWithin(s, 15_000),
      'a connection stalled in its TLS handshake was still open after 15 s',
    );
  });

  test('a client that pipelines and never reads is dropped at the idle timeout', {
    timeout: 60_000,
  }, async () => {
    const hog = await open(port);
    hog.pause();
    hog.on('error', () => {});
    hog.write('LIST VAR ups\n'.repeat(20_000));
    await sleep(8000);
    // reading now drains what the master had sent before it closed, then the close shows
    hog.resume();
    assert.ok(await closedWithin(hog, 20_000), 'the client reading nothing was not dropped');
  });
});
