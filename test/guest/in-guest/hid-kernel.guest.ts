/**
 * Runs INSIDE the QEMU guest (bundled by test/guest/guest-image.ts, started by init.sh as root): the real
 * node-hid binding against kernel HID devices that the uhid emulator makes from every capture. Each device
 * is a real /dev/hidrawN: hidapi enumerates it through libudev/sysfs, reads its descriptor from sysfs, and
 * its GET/SET_REPORT ioctls travel through the kernel's HID core to the emulator and back.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createProbeCommand } from '../../../cli/commands/probe.js';
import { ReplayBinding } from '../../../master/sources/usbhid/bindings/replay-binding.js';
import { parseCapture } from '../../../master/sources/usbhid/capture-file.js';
import { findHidrawByPhys } from '../../../master/sources/usbhid/emulator/hidraw-lookup.js';
import { openUhid } from '../../../master/sources/usbhid/emulator/uhid-channel.js';
import { UpsEmulator } from '../../../master/sources/usbhid/emulator/ups-emulator.js';
import { bytesToHex } from '../../../master/sources/usbhid/hid/hex.js';
import { UsbhidSource } from '../../../master/sources/usbhid/usbhid-source.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';

const FIXTURES = process.env.UPSFLEET_HID_FIXTURES ?? '/fixtures';
const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, 'upsfleet.cjs');
/** uhid carries no manufacturer string: hidapi reports an empty one. */
const MANUFACTURER_KEYS = ['device.mfr', 'ups.mfr'];
const files = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string) {
  return parseCapture(readFileSync(join(FIXTURES, file), 'utf8'), file);
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** An emulator in this process, its device created and its hidraw node found. */
async function emulate(file: string) {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const emulator = new UpsEmulator({
    ...load(file),
    openChannel: () => openUhid(),
    locate: findHidrawByPhys,
    log,
  });
  const ready = waitReady(emulator);
  emulator.plug();
  return { emulator, lines, hidraw: await ready };
}

function waitReady(emulator: UpsEmulator, ms = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no hidraw node within ${ms} ms`)), ms);
    const off = emulator.onReady((hidraw) => {
      clearTimeout(timer);
      off();
      resolve(hidraw);
    });
  });
}

async function probe(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await createProbeCommand()(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { code, stdout, stderr };
}

function withoutManufacturer(vars: UpsVars): UpsVars {
  const out: UpsVars = {};
  for (const [k, v] of Object.entries(vars)) if (!MANUFACTURER_KEYS.includes(k)) out[k] = v;
  return out;
}

async function until<T>(what: string, get: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runNode(args: string[], opts: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    // a test file's child would otherwise believe it runs inside this test runner and skip its files
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, args, {
      cwd: HERE,
      env,
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the guest kernel', () => {
  it('has /dev/uhid and hidraw (uhid and hid-generic loaded from the packaged kernel)', () => {
    assert.ok(existsSync('/dev/uhid'), '/dev/uhid exists');
    assert.ok(existsSync('/sys/class/hidraw'), 'hidraw is built in');
  });
});

describe('upsfleet emulate (the CLI) makes a kernel HID device', () => {
  it('ready names the hidraw node; the kernel holds the capture descriptor and ids; unplug/replug on stdin; SIGTERM removes it', async () => {
    const file = 'apc-back-ups-500.json';
    const { capture } = load(file);
    const child = spawn(process.execPath, [CLI, 'emulate', join(FIXTURES, file)], {
      env: { ...process.env, UPSFLEET_LOG_FORMAT: 'json' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines: LogLine[] = [];
    let partial = '';
    child.stdout.on('data', (c: Buffer) => {
      partial += c.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as LogLine);
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    try {
      const ready = () => lines.filter((l) => l.msg === 'ready');
      const hidraw = (await until(`ready (stderr: ${stderr})`, () => ready()[0]?.hidraw, 120_000)) as string;
      const node = hidraw.replace('/dev/', '');
      assert.ok(existsSync(hidraw), `${hidraw} exists`);
      const sysDescriptor = readFileSync(`/sys/class/hidraw/${node}/device/report_descriptor`);
      assert.equal(bytesToHex(sysDescriptor), capture.reportDescriptor.toLowerCase());
      const uevent = readFileSync(`/sys/class/hidraw/${node}/device/uevent`, 'utf8');
      assert.match(
        uevent,
        new RegExp(`HID_ID=0003:0000${capture.device.vendorId}:0000${capture.device.productId}`, 'i'),
      );
      child.stdin.write('unplug\n');
      await until('the hidraw node to go', () => (existsSync(hidraw) ? undefined : true));
      child.stdin.write('replug\n');
      const again = (await until('ready again', () => ready()[1]?.hidraw, 30_000)) as string;
      assert.ok(existsSync(again));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(existsSync(again), false, 'the device is gone when the emulator stops');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('binding contract on node-hid against a kernel device', () => {
  it('every contract case passes on node-hid as on the replay binding', async (t) => {
    const { emulator, hidraw } = await emulate('eaton-5sc-750.json');
    try {
      const run = await runNode(['--test', '--test-reporter=./guest-reporter.mjs', 'binding-contract.cjs'], {
        env: { UPSFLEET_TEST_HID: hidraw },
      });
      const results = run.stdout
        .split('\n')
        .filter((l) => l.startsWith('@@UPSFLEET-GUEST result '))
        .map(
          (l) =>
            JSON.parse(l.slice('@@UPSFLEET-GUEST result '.length)) as {
              path: string[];
              status: string;
              skip?: unknown;
              error?: string;
            },
        );
      const cases = (target: string) =>
        results.filter((r) => r.path[0] === `HidBinding contract: ${target}` && r.path.length === 2);
      const replay = cases('replay binding');
      const live = cases('node-hid binding');
      assert.ok(replay.length > 0, `the contract ran (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
      for (const r of replay) {
        await t.test(r.path[1]!, () => {
          const l = live.find((x) => x.path[1] === r.path[1]);
          assert.ok(
            l,
            `not run on node-hid (the contract process exited ${run.code}: ${run.stderr.slice(-2000)})`,
          );
          assert.equal(l.skip, undefined, 'skipped on node-hid');
          assert.equal(l.status, 'pass', l.error);
        });
      }
      assert.equal(run.code, 0, `contract process exit code (stderr: ${run.stderr.slice(-2000)})`);
    } finally {
      emulator.stop();
    }
  });
});

describe('live probe --path equals probe --replay (manufacturer aside)', () => {
  for (const file of files) {
    it(file, async () => {
      const { emulator, hidraw } = await emulate(file);
      try {
        const live = await probe(['--path', hidraw, '--json']);
        assert.equal(live.code, 0, live.stderr);
        const replay = await probe(['--replay', join(FIXTURES, file), '--json']);
        assert.equal(replay.code, 0, replay.stderr);
        const liveVars = JSON.parse(live.stdout) as UpsVars;
        assert.deepEqual(
          withoutManufacturer(liveVars),
          withoutManufacturer(JSON.parse(replay.stdout) as UpsVars),
        );
        // a device that answers no report gives no status flag: nothing may claim OL (issue 11, bug 8)
        if (Object.keys(load(file).capture.featureReports).length === 0)
          assert.equal(liveVars['ups.status'], undefined, 'no invented ups.status');
      } finally {
        emulator.stop();
      }
    });
  }
});

/** The UsbhidSource on node-hid and on the replay binding, side by side on one capture. */
async function twoSources(file: string) {
  const { emulator, hidraw, lines } = await emulate(file);
  const { capture } = load(file);
  const replayBinding = new ReplayBinding(capture);
  const make = (binding?: ReplayBinding) => {
    const snapshots: UpsVars[] = [];
    const comm: Array<{ ok: boolean; reason: string }> = [];
    const source = new UsbhidSource({
      upsName: 'ups',
      ...(binding ? { binding } : {}),
      device: { vendorId: capture.device.vendorId, productId: capture.device.productId },
      pollIntervalMs: 300,
      fullPollIntervalMs: 2_000,
      reconnectIntervalMs: 300,
    });
    return {
      source,
      snapshots,
      comm,
      listener: {
        update: (v: UpsVars) => void snapshots.push(v),
        comm: (ok: boolean, reason: string) => void comm.push({ ok, reason }),
      },
    };
  };
  const live = make();
  const replay = make(replayBinding);
  await live.source.start(live.listener);
  await replay.source.start(replay.listener);
  // both get the capture's interrupt reports once open (the emulator also sent them when node-hid opened it)
  sendCaptureInputs(emulator, replayBinding, capture.inputReports ?? []);
  const stop = async () => {
    await live.source.stop();
    await replay.source.stop();
    emulator.stop();
  };
  return { emulator, hidraw, lines, live, replay, replayBinding, stop };
}

function sendCaptureInputs(emulator: UpsEmulator, replay: ReplayBinding, reports: string[]): void {
  emulator.sendInputReports();
  for (const hex of reports) replay.emitInput(hex);
}

describe('UsbhidSource on node-hid equals the replay binding', () => {
  for (const file of files.filter((f) => Object.keys(load(f).capture.featureReports).length > 0)) {
    it(`${file}: the same snapshot`, async () => {
      const s = await twoSources(file);
      try {
        const live = await until('a live snapshot', () => s.live.snapshots.at(-1));
        const replay = await until('a replay snapshot', () => s.replay.snapshots.at(-1));
        assert.deepEqual(withoutManufacturer(live), withoutManufacturer(replay));
      } finally {
        await s.stop();
      }
    });
  }

  it('unplug: comm lost with a readable reason; replug: comm back with the same snapshot', async () => {
    const s = await twoSources('apc-back-ups-bx1600mi.json');
    try {
      const before = await until('a live snapshot', () => s.live.snapshots.at(-1));
      s.emulator.unplug();
      const lost = await until('comm lost', () => s.live.comm.find((c) => !c.ok));
      assert.doesNotMatch(lost.reason, /undefined/);
      s.emulator.plug();
      await until('comm back', () => s.live.comm.find((c, i) => c.ok && i > s.live.comm.indexOf(lost)));
      const after = await until('a snapshot after replug', () => s.live.snapshots.at(-1));
      assert.deepEqual(withoutManufacturer(after), withoutManufacturer(before));
    } finally {
      await s.stop();
    }
  });

  it('mains fail on the device (OL -> OB DISCHRG -> LB): the source follows as on replay', async () => {
    const s = await twoSources('powercom-bnt-800ap-online.json');
    try {
      await until('OL', () => (s.live.snapshots.at(-1)?.['ups.status'] === 'OL' ? true : undefined));
      for (const [path, value] of [
        ['PresentStatus.ACPresent', 0],
        ['PresentStatus.Discharging', 1],
        ['PresentStatus.Charging', 0],
      ] as const) {
        s.emulator.set(path, value);
      }
      const expected = readExpected('powercom-bnt-800ap-onbattery.json')['ups.status'];
      assert.ok(expected);
      await until(`ups.status ${expected}`, () =>
        s.live.snapshots.at(-1)?.['ups.status'] === expected ? true : undefined,
      );
      s.emulator.set('PresentStatus.BelowRemainingCapacityLimit', 1);
      await until('LB', () =>
        /\bLB\b/.test(s.live.snapshots.at(-1)?.['ups.status'] ?? '') ? true : undefined,
      );
    } finally {
      await s.stop();
    }
  });

  it('killpower (shutdown.return): the emulator sees the same SET_REPORT bytes the replay binding records', async () => {
    const s = await twoSources('cyberpower-cp1500avrlcda.json');
    try {
      await until('a live snapshot', () => s.live.snapshots.at(-1));
      await until('a replay snapshot', () => s.replay.snapshots.at(-1));
      assert.ok(s.live.source.commands().includes('shutdown.return'));
      await s.live.source.instantCommand('shutdown.return');
      await s.replay.source.instantCommand('shutdown.return');
      const seen = s.emulator.setReports.map((r) => r.hex);
      assert.ok(seen.length > 0, 'SET_REPORTs reached the emulator');
      assert.deepEqual(
        seen,
        s.replayBinding.recording.map((r) => r.hex),
      );
      assert.ok(
        s.lines.some((l) => l.level === 40 && l.msg.includes('killpower')),
        'the emulator logged the killpower write',
      );
    } finally {
      await s.stop();
    }
  });
});

function readExpected(file: string): Record<string, string> {
  return (
    (JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as { expected?: Record<string, string> })
      .expected ?? {}
  );
}

describe('a master on an emulated UPS (the docs/DEVICES.md walk-through)', () => {
  it('reads it (OL), follows the outage (OB, then LB), and at critical sends killpower to the device', async () => {
    const { emulator, lines, hidraw } = await emulate('cyberpower-cp1500avrlcda.json');
    // step 2: probe lists it like a UPS on the USB port
    const list = await probe([]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^0764 +0501 .*${hidraw} +cyberpower`, 'm'));
    const dir = mkdtempSync('/tmp/lab-');
    const config = join(dir, 'master.yaml');
    writeFileSync(
      config,
      [
        `master: { id: lab, listen: "127.0.0.1:8740", stateDir: ${join(dir, 'state')} }`,
        'ups:',
        '  source: { type: usbhid, vendorId: "0764" }',
        'policy: { debounce: 1s }',
        'sequence: []',
        'shutdown: { dryRun: true }',
      ].join('\n'),
    );
    const master = spawn(process.execPath, [CLI, 'master', '-c', config], {
      env: { ...process.env, UPSFLEET_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    master.stdout.on('data', (c: Buffer) => {
      output += c;
    });
    master.stderr.on('data', (c: Buffer) => {
      output += c;
    });
    const status = async (): Promise<string | undefined> => {
      try {
        const res = await fetch('http://127.0.0.1:8740/status');
        const body = (await res.json()) as { ups?: { vars?: UpsVars } };
        return body.ups?.vars?.['ups.status'];
      } catch {
        return undefined;
      }
    };
    const statusIs = async (re: RegExp, what: string) => {
      const end = Date.now() + 60_000;
      let last: string | undefined;
      while (Date.now() < end) {
        last = await status();
        if (last !== undefined && re.test(last)) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`ups.status never ${what} (last ${last}); master output:\n${output.slice(-3000)}`);
    };
    try {
      await statusIs(/^OL\b/, 'OL');
      emulator.set('PresentStatus.ACPresent', 0);
      emulator.set('PresentStatus.Discharging', 1);
      emulator.set('PresentStatus.Charging', 0);
      await statusIs(/\bOB\b/, 'OB');
      emulator.set('PresentStatus.BelowRemainingCapacityLimit', 1);
      await until(
        `killpower on the device (master output:\n${output.slice(-3000)})`,
        () => lines.find((l) => l.level === 40 && l.msg.includes('killpower')),
        90_000,
      );
      assert.ok(emulator.setReports.length > 0);
      assert.match(output, /sending killpower to the UPS/);
    } finally {
      master.kill('SIGTERM');
      const stopped = await Promise.race([
        new Promise((r) => master.on('close', () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 15_000)),
      ]);
      if (!stopped) master.kill('SIGKILL');
      emulator.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('permissions', () => {
  it('a non-root probe gets the permission error with its udev hint (exit 6)', async () => {
    const { emulator, hidraw } = await emulate('apc-back-ups-500.json');
    try {
      const run = await runNode([CLI, 'probe', '--path', hidraw], { uid: 65534, gid: 65534 });
      assert.equal(run.code, 6, `exit code (stderr: ${run.stderr})`);
      assert.match(run.stderr, /permission denied/i);
      assert.match(run.stderr, /upsfleet udev-rule/);
    } finally {
      emulator.stop();
    }
  });
});
