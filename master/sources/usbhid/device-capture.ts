/**
 * Reading a whole device once into an `upsfleet-hid-capture/1` object: identity, descriptor, the answer to a
 * GET_REPORT of every report ID (Feature IDs and the Input IDs answers carry), and the interrupt-IN reports
 * that arrive meanwhile. Used by `upsfleet probe` (print or `--capture FILE`), so a variable that only
 * arrives in an input report is seen live and kept in the capture.
 */

import { type Clock, systemClock } from '../../../shared/clock.js';
import type { HidBinding, HidDeviceInfo } from './bindings/hid-binding.js';
import { CAPTURE_FORMAT, type Capture } from './capture-file.js';
import { getReportIds, getReportLength, inputIdsReadByGetReport } from './hid/get-report-layouts.js';
import { bytesToHex } from './hid/hex.js';
import { parseReportDescriptor, type ReportDescriptor } from './hid/report-descriptor.js';

export interface CaptureOptions {
  now?: Date;
  clock?: Clock;
  /**
   * How long to wait for interrupt-IN reports of Input report IDs that no GET_REPORT answer covered
   * (default 3000 ms; many UPSes send them every second or two, some only on a change). 0: do not wait.
   */
  inputWaitMs?: number;
}

/** Interrupt reports kept at most (a chatty device must not grow a capture without bound). */
const MAX_INPUT_REPORTS = 64;

export async function captureDevice(
  binding: HidBinding,
  info: HidDeviceInfo,
  opts: CaptureOptions = {},
): Promise<{
  capture: Capture;
  descriptor: ReportDescriptor;
  unanswered: number[];
  inputIdsMissing: number[];
}> {
  const clock = opts.clock ?? systemClock;
  const now = opts.now ?? new Date();
  const device = await binding.open(info.path);
  const inputReports: string[] = [];
  const firstBytes = new Set<number>();
  let wake: (() => void) | undefined;
  const stopInput = device.onInput((report) => {
    if (inputReports.length < MAX_INPUT_REPORTS) inputReports.push(bytesToHex(report));
    firstBytes.add(report[0] ?? 0);
    wake?.();
  });
  const stopError = device.onError(() => wake?.());
  try {
    const raw = await device.reportDescriptor();
    const descriptor = parseReportDescriptor(raw);
    const featureReports: Record<string, string> = {};
    const unanswered: number[] = [];
    const answerCarriesInput = inputIdsReadByGetReport(descriptor);
    for (const id of getReportIds(descriptor)) {
      try {
        const bytes = await device.getFeatureReport(id, getReportLength(descriptor, id));
        if (bytes.length > 0) featureReports[String(id)] = bytesToHex(bytes);
      } catch {
        unanswered.push(id);
      }
    }
    // Input IDs still unknown: their fields arrive only by interrupt; wait for them a little.
    const arrived = (id: number) => (descriptor.usesReportIds ? firstBytes.has(id) : firstBytes.size > 0);
    const answered = (id: number) => answerCarriesInput.has(id) && featureReports[String(id)] !== undefined;
    const missing = () =>
      [...descriptor.reportLengths.Input.keys()].filter((id) => !arrived(id) && !answered(id));
    const waitMs = opts.inputWaitMs ?? 3000;
    if (missing().length > 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = clock.setTimer(waitMs, () => resolve());
        wake = () => {
          if (missing().length === 0 || device.closed) {
            timer.cancel();
            resolve();
          }
        };
      });
    }
    const capture: Capture = {
      format: CAPTURE_FORMAT,
      device: {
        vendorId: info.vendorId,
        productId: info.productId,
        manufacturer: info.manufacturer ?? '',
        product: info.product ?? '',
        ...(info.serialNumber ? { serialNumber: info.serialNumber } : {}),
      },
      reportDescriptor: bytesToHex(raw),
      featureReports,
      inputReports,
      source: `upsfleet probe --capture, ${now.toISOString()}`,
      ...(unanswered.length ? { notes: `reports not answered to GET_REPORT: ${unanswered.join(', ')}` } : {}),
    };
    return { capture, descriptor, unanswered, inputIdsMissing: missing() };
  } finally {
    wake = undefined;
    stopInput();
    stopError();
    await device.close();
  }
}
