/**
 * The `usbhid` Source: a USB HID Power Device read through a HidBinding. It opens the selected device,
 * parses its descriptor, reads every report ID with GET_REPORT (slow poll; Feature and Input items), the
 * status/charge/runtime reports (quick poll) and interrupt-IN reports as they come, and publishes a full NUT
 * snapshot on every change once it has read the line status (OL/OB).
 * When the device disappears it reports comm(false), keeps trying on the clock, and reports comm(true)
 * once it is back, even at another path after re-enumeration.
 */
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import { systemClock } from '../../../shared/clock.js';
import { isUpsfleetError, UpsfleetError } from '../../../shared/errors.js';
import { type Logger, silentLogger } from '../../../shared/logger.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import type { Source, SourceHealth, SourceListener, WritableVariable } from '../source.js';
import type { DeviceSelector, HidBinding, HidDevice, HidDeviceInfo } from './bindings/hid-binding.js';
import { selectDevices } from './bindings/hid-binding.js';
import { NodeHidBinding } from './bindings/node-hid-binding.js';
import { parseReportDescriptor } from './hid/report-descriptor.js';
import { HidUps } from './hid-ups.js';
import type { PlanStep } from './mapping/commands.js';
import { ReportHealth } from './report-health.js';

export interface UsbhidSourceOptions {
  upsName: string;
  /** Default: the node-hid binding (hidraw on Linux). Tests pass a ReplayBinding. */
  binding?: HidBinding;
  /** Which device; empty selects the first HID UPS found. */
  device?: DeviceSelector;
  /** Quick poll of status, charge and runtime reports (NUT pollinterval). Default 2000 ms. */
  pollIntervalMs?: number;
  /** Full poll of every feature report (NUT pollfreq). Default 30000 ms. */
  fullPollIntervalMs?: number;
  /** Wait between reconnection attempts. Default 5000 ms. */
  reconnectIntervalMs?: number;
  /** A report ID not refreshed by this many polls that asked for it makes its values stale. Default 3. */
  staleAfterPolls?: number;
  clock?: Clock;
  logger?: Logger;
  /** Published battery.charge.low instead of the device's (NUT override.battery.charge.low). */
  batteryChargeLow?: number;
  /** Published battery.runtime.low instead of the device's. */
  batteryRuntimeLow?: number;
  /** NUT ignorelb: ignore the device's LB, raise LB from battery.charge/.runtime against the low thresholds. */
  ignoreLowBattery?: boolean;
  /** ups.delay.shutdown / ups.delay.start in seconds (default per vendor: 20/30, CyberPower 60/120). */
  offDelay?: number;
  onDelay?: number;
}

const HID_UPS_USAGE_PAGE = 0x84;

function hasLineStatus(status: string | undefined): boolean {
  const tokens = status?.split(/\s+/) ?? [];
  return tokens.includes('OL') || tokens.includes('OB');
}

export class UsbhidSource implements Source {
  readonly kind = 'usbhid';
  readonly upsName: string;
  private readonly binding: HidBinding;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly fullPollMs: number;
  private readonly reconnectMs: number;
  private listener: SourceListener | undefined;
  private device: HidDevice | undefined;
  private ups: HidUps | undefined;
  private unsubscribe: Array<() => void> = [];
  private pollTimer: TimerHandle | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private lastPublished = '';
  private commOk: boolean | undefined;
  private stopped = false;
  private polling = false;
  private lastFullPoll = 0;
  private waitLogged = false;
  /** Decode failures and staleness, per report ID. */
  private readonly reports: ReportHealth;
  /** Identity of the device once found, so a re-enumerated device at a new path is found again. */
  private remembered: DeviceSelector | undefined;

  constructor(private readonly opts: UsbhidSourceOptions) {
    this.upsName = opts.upsName;
    this.binding = opts.binding ?? new NodeHidBinding();
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger()).child({ module: 'usbhid', ups: opts.upsName });
    this.pollMs = opts.pollIntervalMs ?? 2000;
    this.fullPollMs = opts.fullPollIntervalMs ?? 30_000;
    this.reconnectMs = opts.reconnectIntervalMs ?? 5000;
    this.reports = new ReportHealth(this.log, opts.staleAfterPolls ?? 3);
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    this.stopped = false;
    try {
      await this.connect();
    } catch (err) {
      // A wrong descriptor, a permission problem or a missing node-hid will not fix itself: tell the caller now.
      if (
        isUpsfleetError(err, 'HID_PERMISSION') ||
        isUpsfleetError(err, 'HID_DESCRIPTOR') ||
        isUpsfleetError(err, 'HID_UNAVAILABLE')
      )
        throw err;
      this.lost(err);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimers();
    await this.closeDevice();
  }

  commands(): string[] {
    return this.ups?.commands() ?? [];
  }

  writableVariables(): WritableVariable[] {
    return this.ups?.writableVariables() ?? [];
  }

  async instantCommand(name: string, param?: string): Promise<void> {
    const ups = this.requireUps();
    const plan = ups.planCommand(name, param);
    this.log.info({ command: name, param }, 'running instant command');
    await this.runPlan(ups, plan);
  }

  async setVariable(name: string, value: string): Promise<void> {
    const ups = this.requireUps();
    const plan = ups.planSetVariable(name, value);
    await this.runPlan(ups, plan);
    this.publish();
  }

  /** The current snapshot (empty before the first successful read). */
  variables(): UpsVars {
    return this.ups?.variables() ?? {};
  }

  private requireUps(): HidUps {
    if (!this.ups || !this.device || this.device.closed) {
      throw new UpsfleetError('SOURCE_LOST', `${this.upsName}: the UPS is not connected`, {
        ups: this.upsName,
      });
    }
    return this.ups;
  }

  private async runPlan(ups: HidUps, plan: PlanStep[]): Promise<void> {
    for (const step of plan) {
      if (step.kind === 'pause') {
        await new Promise<void>((resolve) => this.clock.setTimer(step.ms, resolve));
        continue;
      }
      const device = this.device;
      if (!device || device.closed)
        throw new UpsfleetError('SOURCE_LOST', `${this.upsName}: the UPS is not connected`, {});
      const field = ups.targetField(step.target);
      const length = ups.getReportLength(field.reportId);
      // Re-read the report so the other fields it carries are written back unchanged.
      let base: Uint8Array | undefined;
      try {
        base = await device.getFeatureReport(field.reportId, length);
      } catch (err) {
        this.log.debug(
          { err, reportId: field.reportId },
          'could not re-read report before writing; using the last copy',
        );
      }
      const bytes = ups.encodeWrite(step.target, step.value, base);
      this.log.debug({ target: step.target, value: step.value, reportId: field.reportId }, 'SET_REPORT');
      await device.sendFeatureReport(bytes);
    }
  }

  private async findDevice(): Promise<HidDeviceInfo> {
    const all = await this.binding.list();
    const selector = this.opts.device ?? {};
    let found = selectDevices(all, selector);
    if (found.length === 0 && this.remembered) found = selectDevices(all, this.remembered);
    if (!this.opts.device || Object.keys(this.opts.device).length === 0) {
      // No selector: prefer devices whose top-level usage page says "Power Device".
      const ups = found.filter((d) => d.usagePage === undefined || d.usagePage === HID_UPS_USAGE_PAGE);
      found = ups.length > 0 ? ups : found;
    }
    const first = found[0];
    if (!first)
      throw new UpsfleetError('HID_NO_DEVICE', `${this.upsName}: no matching HID UPS is attached`, {
        selector,
      });
    if (found.length > 1)
      this.log.warn({ paths: found.map((d) => d.path) }, 'several devices match; using the first');
    return first;
  }

  private async connect(): Promise<void> {
    const info = await this.findDevice();
    const device = await this.binding.open(info.path);
    try {
      const descriptor = parseReportDescriptor(await device.reportDescriptor());
      const ups = new HidUps(
        {
          vendorId: info.vendorId,
          productId: info.productId,
          ...(info.manufacturer !== undefined ? { manufacturer: info.manufacturer } : {}),
          ...(info.product !== undefined ? { product: info.product } : {}),
          ...(info.serialNumber !== undefined ? { serialNumber: info.serialNumber } : {}),
        },
        descriptor,
        {
          ...(this.opts.batteryChargeLow !== undefined
            ? { chargeLowOverride: this.opts.batteryChargeLow }
            : {}),
          ...(this.opts.batteryRuntimeLow !== undefined
            ? { runtimeLowOverride: this.opts.batteryRuntimeLow }
            : {}),
          ...(this.opts.ignoreLowBattery !== undefined
            ? { ignoreLowBattery: this.opts.ignoreLowBattery }
            : {}),
          ...(this.opts.offDelay !== undefined ? { offDelay: this.opts.offDelay } : {}),
          ...(this.opts.onDelay !== undefined ? { onDelay: this.opts.onDelay } : {}),
        },
      );
      this.device = device;
      this.ups = ups;
      this.remembered = {
        vendorId: info.vendorId,
        productId: info.productId,
        ...(info.serialNumber ? { serial: info.serialNumber } : {}),
      };
      this.unsubscribe = [
        device.onInput((report) => this.onInput(report)),
        device.onError((err) => this.lost(err)),
      ];
      await this.poll(ups.pollReportIds());
      this.lastFullPoll = this.clock.now();
      this.log.info(
        { path: info.path, vendor: ups.profile.id, vendorId: info.vendorId, productId: info.productId },
        'UPS connected',
      );
      this.setComm(true, `connected to ${info.vendorId}:${info.productId} at ${info.path}`);
      this.publish();
      this.schedulePoll();
    } catch (err) {
      await device.close();
      this.device = undefined;
      throw err;
    }
  }

  private onInput(report: Uint8Array): void {
    const ups = this.ups;
    if (!ups) return;
    ups.beginBatch();
    if (this.take(ups, 'input', report)) this.publish();
  }

  /**
   * Decodes one report into the UPS's values, counting what cannot be decoded or came short (ReportHealth).
   * `asked`: the report ID a GET_REPORT asked for. True when it refreshed values.
   */
  private take(ups: HidUps, kind: 'answer' | 'input', report: Uint8Array, asked?: number): boolean {
    const usesIds = ups.descriptor.usesReportIds;
    const id = usesIds ? (report[0] ?? asked ?? 0) : 0;
    const where = asked ?? id;
    if (report.length === 0) {
      this.reports.undecodable(where, kind, 'empty report', report);
      return false;
    }
    if (asked !== undefined && usesIds && id !== asked) {
      this.reports.undecodable(where, kind, `the answer carries report ID ${id}`, report);
      return false;
    }
    const declared = ups.declaredLength(kind, id);
    if (declared === undefined) {
      this.reports.undecodable(where, kind, `report ID ${id} is not in the descriptor`, report);
      return false;
    }
    try {
      if (kind === 'answer') ups.applyAnswer(report);
      else ups.apply('Input', report);
    } catch (err) {
      this.reports.undecodable(where, kind, (err as Error).message, report);
      return false;
    }
    if (report.length < declared) this.reports.truncated(where, kind, report.length, declared);
    this.reports.refreshed(id);
    return true;
  }

  /** Decode failures and stale values (for /status and /metrics). */
  health(): SourceHealth {
    const view = this.reports.view();
    const stale = new Set(view.staleReports);
    return { ...view, staleVariables: this.ups?.variablesFrom(stale) ?? [] };
  }

  /** Reads the given feature reports as one batch; a device error ends the connection. */
  private async poll(ids: number[]): Promise<void> {
    const ups = this.ups;
    const device = this.device;
    if (!ups || !device) return;
    ups.beginBatch();
    let answered = 0;
    let lastError: unknown;
    for (const id of ids) {
      if (device.closed) throw new UpsfleetError('HID_IO', 'device closed during poll', {});
      let report: Uint8Array;
      try {
        report = await device.getFeatureReport(id, ups.getReportLength(id));
        answered++;
      } catch (err) {
        lastError = err;
        this.reports.missedPoll(id);
        this.log.debug({ err, reportId: id }, 'report not read');
        continue;
      }
      if (!this.take(ups, 'answer', report, id)) this.reports.missedPoll(id);
    }
    // Single reports may be refused by firmware; none answering means the device is gone.
    if (ids.length > 0 && answered === 0)
      throw lastError ?? new UpsfleetError('HID_IO', 'no report answered', {});
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.pollTimer?.cancel();
    this.pollTimer = this.clock.setTimer(this.pollMs, () => {
      void this.pollTick();
    });
  }

  private async pollTick(): Promise<void> {
    const ups = this.ups;
    if (this.stopped || !ups || this.polling) return;
    this.polling = true;
    try {
      const full = this.clock.now() - this.lastFullPoll >= this.fullPollMs;
      await this.poll(full ? ups.pollReportIds() : ups.quickReportIds());
      if (full) this.lastFullPoll = this.clock.now();
      this.publish();
      this.schedulePoll();
    } catch (err) {
      this.lost(err);
    } finally {
      this.polling = false;
    }
  }

  /**
   * Publishes the snapshot once the line status (OL or OB) was read; before that the source has no data
   * (the hub stays waiting and NUT clients see WAIT), whatever else was decoded.
   */
  private publish(): void {
    const ups = this.ups;
    if (!ups || !this.listener) return;
    const vars = ups.variables();
    if (!hasLineStatus(vars['ups.status'])) {
      if (!this.waitLogged) {
        this.waitLogged = true;
        this.log.warn(
          { status: vars['ups.status'] ?? null },
          'no line status (OL/OB) read from the UPS yet: publishing nothing until it has some',
        );
      }
      return;
    }
    const key = JSON.stringify(vars);
    if (key === this.lastPublished) return;
    this.lastPublished = key;
    this.listener.update(vars);
  }

  private setComm(ok: boolean, reason: string): void {
    if (this.commOk === ok) return;
    this.commOk = ok;
    this.listener?.comm(ok, reason);
  }

  private lost(err: unknown): void {
    if (this.stopped) return;
    const reason = (err as Error)?.message ?? String(err);
    this.log.warn({ err }, 'UPS communication lost');
    this.cancelTimers();
    void this.closeDevice();
    this.setComm(false, reason);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = this.clock.setTimer(this.reconnectMs, () => {
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.connect();
    } catch (err) {
      this.log.debug({ err }, 'reconnect failed');
      this.scheduleReconnect();
    }
  }

  private cancelTimers(): void {
    this.pollTimer?.cancel();
    this.reconnectTimer?.cancel();
    this.pollTimer = undefined;
    this.reconnectTimer = undefined;
  }

  private async closeDevice(): Promise<void> {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    const device = this.device;
    this.device = undefined;
    if (device && !device.closed) await device.close();
  }
}

export function createUsbhidSource(opts: UsbhidSourceOptions): UsbhidSource {
  return new UsbhidSource(opts);
}
