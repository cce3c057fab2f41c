/**
 * A capture file played as a live kernel HID device through uhid: created with the capture's descriptor and
 * ids, GET_REPORT answered from its reports, SET_REPORT applied (a later GET returns the new bytes), its
 * input reports sent whenever a reader opens the device, values changed by usage path (and the Input
 * reports that carry them sent, as a UPS notifies a change), the cable pulled and plugged back.
 */
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../../../shared/clock.js';
import { UpsfleetError } from '../../../../shared/errors.js';
import type { Capture } from '../capture-file.js';
import { bytesToHex, hexToBytes } from '../hid/hex.js';
import { decodeReport, emptyReport, encodeField } from '../hid/report-codec.js';
import type { ReportDescriptor, ReportField } from '../hid/report-descriptor.js';
import { WRITE_TARGET_PATTERNS } from '../mapping/commands.js';
import { fieldMatches } from '../mapping/path-match.js';
import type { UhidChannel } from './uhid-channel.js';
import {
  encodeCreate2,
  encodeDestroy,
  encodeGetReportReply,
  encodeInput2,
  encodeSetReportReply,
  type UhidKernelEvent,
} from './uhid-events.js';

const EIO = 5;

export interface SetReportRecord {
  reportId: number;
  reportType: 'Feature' | 'Output' | 'Input';
  hex: string;
  /** The fields that changed, with their new physical values. */
  changed: { path: string; value: number }[];
}

export interface UpsEmulatorOptions {
  capture: Capture;
  descriptor: ReportDescriptor;
  /** Opens the kernel end (openUhid in production). */
  openChannel: () => UhidChannel;
  log: Logger;
  /** Finds the hidraw node made for a `phys` string (findHidrawByPhys in production). */
  locate?: (phys: string) => string | undefined;
  clock?: Clock;
}

/** How long to look for the hidraw node after the kernel bound its driver. */
const LOCATE_TRIES = 60;
const LOCATE_EVERY_MS = 50;
let instances = 0;

/** Fields whose write means "cut the load": what killpower (shutdown.return, shutdown.stayoff) writes. */
const KILLPOWER_PATTERNS = [...WRITE_TARGET_PATTERNS.shutdownDelay, ...WRITE_TARGET_PATTERNS.rebootDelay];

export class UpsEmulator {
  /** Every SET_REPORT the kernel passed on, in order. */
  readonly setReports: SetReportRecord[] = [];
  private channel: UhidChannel | undefined;
  private readonly features = new Map<number, Uint8Array>();
  private readonly inputs = new Map<number, Uint8Array>();
  private opened = 0;
  private hidraw_: string | undefined;
  private phys = '';
  private readonly readyListeners = new Set<(hidraw: string) => void>();
  private readonly listeners = new Set<(record: SetReportRecord) => void>();

  constructor(private readonly opts: UpsEmulatorOptions) {
    for (const [id, hex] of Object.entries(opts.capture.featureReports))
      this.features.set(Number(id), hexToBytes(hex));
    for (const hex of opts.capture.inputReports ?? []) {
      const bytes = hexToBytes(hex);
      this.inputs.set(this.idOf(bytes), bytes);
    }
  }

  get plugged(): boolean {
    return this.channel !== undefined;
  }

  /** The /dev/hidrawN the kernel made, once found (undefined while unplugged). */
  get hidraw(): string | undefined {
    return this.hidraw_;
  }

  /** Called each time the device is plugged and its hidraw node found. */
  onReady(listener: (hidraw: string) => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  /** Creates the kernel device (UHID_CREATE2). */
  plug(): void {
    if (this.channel) return;
    const { device } = this.opts.capture;
    const channel = this.opts.openChannel();
    this.phys = `upsfleet-emulator/${process.pid}/${++instances}`;
    // hidapi reports a uhid device's name as its product string (and no manufacturer): the USB product
    // string keeps `probe` showing the same model as the capture
    const name = device.product;
    try {
      channel.write(
        encodeCreate2({
          name: name || `UPS ${device.vendorId}:${device.productId}`,
          phys: this.phys,
          uniq: device.serialNumber ?? '',
          descriptor: hexToBytes(this.opts.capture.reportDescriptor),
          vendor: Number.parseInt(device.vendorId, 16),
          product: Number.parseInt(device.productId, 16),
        }),
      );
    } catch (err) {
      channel.close();
      throw err;
    }
    this.channel = channel;
    this.opened = 0;
    channel.start(
      (event) => this.onKernelEvent(channel, event),
      (err) => {
        this.opts.log.error({ err }, 'uhid channel failed; the device is gone');
        this.dropChannel();
      },
    );
    this.opts.log.info(
      { vendorId: device.vendorId, productId: device.productId, name },
      'device created (UHID_CREATE2)',
    );
  }

  /** The cable is pulled: UHID_DESTROY, the kernel removes its hidraw node. */
  unplug(): void {
    const channel = this.channel;
    if (!channel) return;
    try {
      channel.write(encodeDestroy());
    } finally {
      this.dropChannel();
    }
    this.opts.log.info({}, 'device destroyed (UHID_DESTROY)');
  }

  /** Stops for good (destroys the device when it exists). */
  stop(): void {
    this.unplug();
  }

  /** Called with every SET_REPORT the kernel passes on. */
  onSetReport(listener: (record: SetReportRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Sets every field matching a usage-path suffix (`PresentStatus.ACPresent`) to a physical value, in the
   * reports the capture has, and sends the Input reports that changed. Returns the fields written.
   */
  set(pattern: string, value: number): ReportField[] {
    const { descriptor } = this.opts;
    const written: ReportField[] = [];
    const changedInputs = new Set<number>();
    for (const field of descriptor.fields) {
      if (field.type === 'Output' || !fieldMatches(field, pattern)) continue;
      const hasFeaturePart = descriptor.reportLengths.Feature.has(field.reportId);
      // the capture's GET answers: the Feature report, or the Input report where an ID has no Feature part
      const answer = this.features.get(field.reportId);
      if (answer && (field.type === 'Feature' || !hasFeaturePart)) {
        this.features.set(field.reportId, encodeField(answer, field, value));
        written.push(field);
      }
      if (field.type === 'Input') {
        const base =
          this.inputs.get(field.reportId) ??
          (answer && !hasFeaturePart ? answer : emptyReport(descriptor, 'Input', field.reportId));
        this.inputs.set(field.reportId, encodeField(base, field, value));
        changedInputs.add(field.reportId);
        if (!written.includes(field)) written.push(field);
      }
    }
    if (written.length === 0)
      throw new UpsfleetError('HID_REPORT', `no Input or Feature field matches ${pattern}`, { pattern });
    for (const id of changedInputs) this.sendInput(this.inputs.get(id)!);
    this.opts.log.info(
      { pattern, value, fields: written.map((f) => `${f.type} ${f.reportId}: ${f.path}`) },
      'value set',
    );
    return written;
  }

  /** Replaces a report (hex, first byte = report ID) that GET_REPORT answers. */
  setFeatureReport(hex: string): void {
    const bytes = hexToBytes(hex);
    this.features.set(this.idOf(bytes), bytes);
  }

  /** Sends an interrupt-IN report (hex, first byte = report ID) and keeps it as that ID's Input report. */
  input(hex: string): void {
    const bytes = hexToBytes(hex);
    this.inputs.set(this.idOf(bytes), bytes);
    this.sendInput(bytes);
  }

  /** Sends every Input report the emulator holds (the capture's, then changed ones). */
  sendInputReports(): void {
    for (const bytes of this.inputs.values()) this.sendInput(bytes);
  }

  /** The current answer to a GET_REPORT (for tests and the `show` control command). */
  report(reportId: number): Uint8Array | undefined {
    const bytes = this.features.get(reportId) ?? this.inputs.get(reportId);
    return bytes && Uint8Array.from(bytes);
  }

  private decode(bytes: Uint8Array) {
    return bytes.length ? decodeReport(this.opts.descriptor, 'Feature', bytes) : [];
  }

  private idOf(bytes: Uint8Array): number {
    return this.opts.descriptor.usesReportIds ? (bytes[0] ?? 0) : 0;
  }

  private sendInput(bytes: Uint8Array): void {
    if (!this.channel) return;
    // without report IDs the wire report has no ID byte, and neither does the stored one
    this.channel.write(encodeInput2(bytes));
  }

  private dropChannel(): void {
    const channel = this.channel;
    this.channel = undefined;
    this.opened = 0;
    this.hidraw_ = undefined;
    channel?.close();
  }

  /** hidraw registers its node right after the driver starts the device: look for it a few times. */
  private locate(channel: UhidChannel, triesLeft: number): void {
    if (channel !== this.channel || !this.opts.locate) return;
    const found = this.opts.locate(this.phys);
    if (found) {
      this.hidraw_ = found;
      this.opts.log.info({ hidraw: found }, 'ready');
      for (const l of this.readyListeners) l(found);
      return;
    }
    if (triesLeft <= 1) {
      this.opts.log.warn(
        { phys: this.phys },
        'no hidraw node appeared for the device (is hidraw built into the kernel?)',
      );
      return;
    }
    (this.opts.clock ?? systemClock).setTimer(LOCATE_EVERY_MS, () => this.locate(channel, triesLeft - 1));
  }

  private onKernelEvent(channel: UhidChannel, event: UhidKernelEvent): void {
    if (channel !== this.channel) return;
    const { log } = this.opts;
    switch (event.type) {
      case 'start':
        log.info({ devFlags: Number(event.devFlags) }, 'kernel driver bound (UHID_START)');
        this.locate(channel, LOCATE_TRIES);
        return;
      case 'stop':
        log.info({}, 'kernel driver unbound (UHID_STOP)');
        return;
      case 'open':
        this.opened++;
        log.info({}, 'opened by a reader (UHID_OPEN)');
        // a UPS reports its state on the interrupt pipe when a host starts listening
        this.sendInputReports();
        return;
      case 'close':
        this.opened = Math.max(0, this.opened - 1);
        log.info({}, 'closed by its last reader (UHID_CLOSE)');
        return;
      case 'get-report':
        this.answerGet(channel, event.id, event.reportNumber, event.reportType);
        return;
      case 'set-report':
        this.applySet(channel, event.id, event.reportNumber, event.reportType, event.data);
        return;
      case 'output':
        log.info(
          { reportType: event.reportType, hex: bytesToHex(event.data) },
          'output report (UHID_OUTPUT)',
        );
        return;
      default:
        log.debug({ code: event.code }, 'unknown uhid event ignored');
    }
  }

  private answerGet(channel: UhidChannel, id: number, reportNumber: number, type: string): void {
    const stored =
      type === 'Input'
        ? (this.inputs.get(reportNumber) ?? this.features.get(reportNumber))
        : this.features.get(reportNumber);
    if (!stored) {
      this.opts.log.debug({ reportId: reportNumber, reportType: type }, 'GET_REPORT not answered (EIO)');
      channel.write(encodeGetReportReply(id, EIO));
      return;
    }
    // a device without report IDs answers a USB GET_REPORT with its bare data; hidraw's caller expects the
    // 0 ID byte in front, which usbhid adds and uhid does not
    const data = this.opts.descriptor.usesReportIds ? stored : Uint8Array.of(0, ...stored);
    channel.write(encodeGetReportReply(id, 0, data));
  }

  private applySet(
    channel: UhidChannel,
    id: number,
    reportNumber: number,
    type: 'Feature' | 'Output' | 'Input',
    data: Uint8Array,
  ): void {
    const bytes = this.opts.descriptor.usesReportIds ? Uint8Array.from(data) : data.slice(1);
    const before = type === 'Feature' ? this.features.get(reportNumber) : undefined;
    const changed: { path: string; value: number }[] = [];
    let killpower = false;
    if (type === 'Feature') {
      try {
        const old = new Map(before ? this.decode(before).map((v) => [v.field, v.value]) : []);
        for (const { field, value } of this.decode(bytes)) {
          if (old.get(field) === value) continue;
          changed.push({ path: field.path, value });
          // a delay of -1 cancels a countdown; 0 or more starts one
          if (value >= 0 && KILLPOWER_PATTERNS.some((p) => fieldMatches(field, p))) killpower = true;
        }
      } catch (err) {
        this.opts.log.warn(
          { err, reportId: reportNumber, hex: bytesToHex(data) },
          'SET_REPORT bytes do not decode',
        );
      }
      this.features.set(reportNumber, bytes);
    }
    channel.write(encodeSetReportReply(id, 0));
    const record: SetReportRecord = {
      reportId: reportNumber,
      reportType: type,
      hex: bytesToHex(data),
      changed,
    };
    this.setReports.push(record);
    const line = { reportId: reportNumber, reportType: type, hex: record.hex, changed };
    if (killpower)
      this.opts.log.warn(line, 'SET_REPORT: killpower delay written (the UPS would cut its load)');
    else this.opts.log.info(line, 'SET_REPORT');
    for (const l of this.listeners) l(record);
  }
}
