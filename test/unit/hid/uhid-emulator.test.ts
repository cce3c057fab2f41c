/**
 * The uhid emulator against a fake kernel end: the bytes it writes to /dev/uhid are checked at the offsets of
 * linux/uhid.h, and the kernel's requests are fed to it as raw event bytes. (The real kernel end runs in the
 * QEMU guest suite, test/guest/.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { replayCapture } from '../../../master/sources/usbhid/capture-replay.js';
import { parseScript, SCENARIOS } from '../../../master/sources/usbhid/emulator/emulator-script.js';
import { runScript } from '../../../master/sources/usbhid/emulator/script-runner.js';
import type { UhidChannel } from '../../../master/sources/usbhid/emulator/uhid-channel.js';
import { decodeKernelEvent, UHID_EVENT_SIZE } from '../../../master/sources/usbhid/emulator/uhid-events.js';
import { UpsEmulator } from '../../../master/sources/usbhid/emulator/ups-emulator.js';
import { bytesToHex, hexToBytes } from '../../../master/sources/usbhid/hid/hex.js';
import { decodeField, encodeField } from '../../../master/sources/usbhid/hid/report-codec.js';
import { ManualClock } from '../../../shared/clock.js';
import { FIXTURE_DIR, type Fixture, loadFixture } from './fixtures.js';

class FakeKernel implements UhidChannel {
  readonly written: Buffer[] = [];
  closed = false;
  private onEvent: ((e: ReturnType<typeof decodeKernelEvent>) => void) | undefined;
  write(event: Uint8Array): void {
    assert.equal(event.length, UHID_EVENT_SIZE, 'whole events only');
    this.written.push(Buffer.from(event));
  }
  start(onEvent: (e: ReturnType<typeof decodeKernelEvent>) => void): void {
    this.onEvent = onEvent;
  }
  close(): void {
    this.closed = true;
  }
  /** Raw kernel event bytes, as read() would return them. */
  send(raw: Buffer): void {
    this.onEvent?.(decodeKernelEvent(raw));
  }
  types(): number[] {
    return this.written.map((b) => b.readUInt32LE(0));
  }
  last(): Buffer {
    return this.written.at(-1)!;
  }
}

function getReport(id: number, reportNumber: number, rtype = 0): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt32LE(9, 0);
  b.writeUInt32LE(id, 4);
  b[8] = reportNumber;
  b[9] = rtype;
  return b;
}

function setReport(id: number, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32LE(13, 0);
  b.writeUInt32LE(id, 4);
  b[8] = data[0]!;
  b[9] = 0;
  b.writeUInt16LE(data.length, 10);
  b.set(data, 12);
  return b;
}

function typeOnly(type: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(type, 0);
  return b;
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function setup(file: string) {
  const fixture: Fixture = loadFixture(file);
  const kernels: FakeKernel[] = [];
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const emulator = new UpsEmulator({
    capture: fixture.capture,
    descriptor: fixture.descriptor,
    openChannel: () => {
      const k = new FakeKernel();
      kernels.push(k);
      return k;
    },
    log,
  });
  return { fixture, kernels, lines, emulator, kernel: () => kernels.at(-1)! };
}

describe('uhid emulator', () => {
  it('creates the device with UHID_CREATE2: name, ids, bus USB and the descriptor byte for byte', () => {
    const { fixture, emulator, kernel } = setup('apc-back-ups-500.json');
    emulator.plug();
    const ev = kernel().written[0]!;
    const descriptor = hexToBytes(fixture.capture.reportDescriptor);
    assert.equal(ev.readUInt32LE(0), 11);
    assert.equal(ev.subarray(4, 132).toString('utf8').replace(/\0+$/, ''), fixture.capture.device.product);
    assert.equal(ev.readUInt16LE(260), descriptor.length);
    assert.equal(ev.readUInt16LE(262), 3);
    assert.equal(ev.readUInt32LE(264), 0x051d);
    assert.equal(ev.readUInt32LE(268), 0x0002);
    assert.deepEqual(new Uint8Array(ev.subarray(280, 280 + descriptor.length)), descriptor);
    assert.equal(ev[280 + descriptor.length], 0);
  });

  it('answers GET_REPORT with the capture bytes (id, err 0, size, data) and EIO for a report it lacks', () => {
    const { fixture, emulator, kernel } = setup('eaton-5sc-750.json');
    emulator.plug();
    const [key, hex] = Object.entries(fixture.capture.featureReports)[3]!;
    kernel().send(getReport(77, Number(key)));
    const reply = kernel().last();
    assert.equal(reply.readUInt32LE(0), 10);
    assert.equal(reply.readUInt32LE(4), 77);
    assert.equal(reply.readUInt16LE(8), 0);
    const size = reply.readUInt16LE(10);
    assert.equal(bytesToHex(reply.subarray(12, 12 + size)), hex);
    kernel().send(getReport(78, 250));
    assert.equal(kernel().last().readUInt32LE(4), 78);
    assert.equal(kernel().last().readUInt16LE(8), 5);
    assert.equal(kernel().last().readUInt16LE(10), 0);
  });

  it('applies SET_REPORT: replies, serves the new bytes on the next GET, logs a killpower delay', () => {
    const { fixture, emulator, kernel, lines } = setup('apc-back-ups-bx1600mi.json');
    emulator.plug();
    const field = fixture.descriptor.fields.find(
      (f) => f.type === 'Feature' && f.path === 'UPS.PowerSummary.DelayBeforeShutdown',
    );
    assert.ok(field, 'the BX1600MI has PowerSummary.DelayBeforeShutdown');
    const old = hexToBytes(fixture.capture.featureReports[String(field.reportId)]!);
    assert.notEqual(decodeField(old, field), 20);
    const written = encodeField(old, field, 20);
    kernel().send(setReport(5, written));
    assert.deepEqual(
      [kernel().last().readUInt32LE(0), kernel().last().readUInt32LE(4), kernel().last().readUInt16LE(8)],
      [14, 5, 0],
    );
    kernel().send(getReport(6, field.reportId));
    const size = kernel().last().readUInt16LE(10);
    assert.deepEqual(
      new Uint8Array(
        kernel()
          .last()
          .subarray(12, 12 + size),
      ),
      written,
    );
    assert.equal(emulator.setReports.length, 1);
    assert.deepEqual(emulator.setReports[0]!.changed, [{ path: field.path, value: 20 }]);
    const warn = lines.find((l) => l.level === 40 && l.msg.includes('killpower'));
    assert.ok(warn, 'a killpower write is logged at warn');
    assert.equal(warn.hex, bytesToHex(written));
  });

  it('the outage scenario turns an on-line capture into the same unit on battery (OB DISCHRG, then LB)', async () => {
    const { fixture, emulator, kernel } = setup('powercom-bnt-800ap-online.json');
    const onBattery = loadFixture('powercom-bnt-800ap-onbattery.json');
    emulator.plug();
    const clock = new ManualClock();
    const log = pino({ level: 'silent' });
    const run = runScript(emulator, parseScript(SCENARIOS.outage!), clock, log);
    const status = () => {
      const featureReports: Record<string, string> = {};
      for (const key of Object.keys(fixture.capture.featureReports))
        featureReports[key] = bytesToHex(emulator.report(Number(key))!);
      return replayCapture({ ...fixture.capture, featureReports }, fixture.descriptor).vars['ups.status'];
    };
    assert.equal(status(), 'OL');
    clock.advance(5_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(status(), onBattery.capture.expected!['ups.status']);
    const inputsSent = kernel()
      .types()
      .filter((t) => t === 12).length;
    clock.advance(10_000);
    await run;
    assert.match(status() ?? '', /\bOB\b.*\bLB\b|\bLB\b.*\bOB\b/);
    assert.ok(
      kernel()
        .types()
        .filter((t) => t === 12).length >= inputsSent,
      'changed Input reports are sent',
    );
  });

  it('sends the capture input reports when a reader opens the device', () => {
    const { fixture, emulator, kernel } = setup('unknown-5131-2007.json');
    emulator.plug();
    kernel().send(typeOnly(2));
    kernel().send(typeOnly(4));
    const input = kernel().last();
    assert.equal(input.readUInt32LE(0), 12);
    const size = input.readUInt16LE(4);
    assert.equal(bytesToHex(input.subarray(6, 6 + size)), fixture.capture.inputReports![0]);
  });

  it('unplug destroys the device and closes /dev/uhid; replug creates it again on a new one', () => {
    const { emulator, kernels } = setup('apc-back-ups-500.json');
    emulator.plug();
    emulator.unplug();
    assert.deepEqual(kernels[0]!.types(), [11, 1]);
    assert.equal(kernels[0]!.closed, true);
    assert.equal(emulator.plugged, false);
    emulator.plug();
    assert.equal(kernels.length, 2);
    assert.deepEqual(kernels[1]!.types(), [11]);
  });

  it('script errors name the line', () => {
    assert.throws(
      () => parseScript('wait 1s\nset ACPresent\n', 'x.script'),
      /x\.script:2: set takes 2 arguments/,
    );
    assert.throws(() => parseScript('jump\n', 'y'), /y:1: unknown command "jump"/);
    assert.deepEqual(
      parseScript('# outage\nunplug # pull it\nwait 2s\n').map((s) => s.kind),
      ['unplug', 'wait'],
    );
  });
});

describe('upsfleet emulate on a machine without uhid', () => {
  it('exits 5 (no device) telling how to load the uhid module; a malformed script exits 7 naming its line', async () => {
    const { emulateCommand } = await import('../../../cli/commands/emulate.js');
    const capture = `${FIXTURE_DIR}/apc-back-ups-500.json`;
    let stderr = '';
    const io = {
      stdout: () => {},
      stderr: (t: string) => {
        stderr += t;
      },
    };
    assert.equal(await emulateCommand([capture, '--uhid', '/nonexistent/uhid'], io), 5);
    assert.match(
      stderr,
      /\/nonexistent\/uhid does not exist: load the kernel's uhid module \(`sudo modprobe uhid`\)/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-emulate-'));
    try {
      writeFileSync(join(dir, 'bad.script'), 'wait 1s\nunplug now\n');
      stderr = '';
      assert.equal(await emulateCommand([capture, '--script', join(dir, 'bad.script')], io), 7);
      assert.match(stderr, /bad\.script:2: unplug takes 0 arguments, got 1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
