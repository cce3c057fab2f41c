/**
 * Decoding a capture without a device: GET_REPORT answers in report-ID order as one poll (Feature and Input
 * items, as live), then each input
 * report in order as it would arrive from the interrupt pipe. Used by `upsfleet probe --replay` and tests.
 */
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import type { Capture } from './capture-file.js';
import { hexToBytes } from './hid/hex.js';
import type { ReportDescriptor } from './hid/report-descriptor.js';
import { HidUps, type HidUpsOptions } from './hid-ups.js';

export function hidUpsFromCapture(
  capture: Capture,
  descriptor: ReportDescriptor,
  opts: HidUpsOptions = {},
): HidUps {
  const { vendorId, productId, manufacturer, product, serialNumber } = capture.device;
  return new HidUps(
    { vendorId, productId, manufacturer, product, ...(serialNumber ? { serialNumber } : {}) },
    descriptor,
    opts,
  );
}

export function replayCapture(
  capture: Capture,
  descriptor: ReportDescriptor,
  opts: HidUpsOptions = {},
): { ups: HidUps; vars: UpsVars } {
  const ups = hidUpsFromCapture(capture, descriptor, opts);
  ups.beginBatch();
  const ids = Object.keys(capture.featureReports)
    .map(Number)
    .sort((a, b) => a - b);
  for (const id of ids)
    ups.applyAnswer(hexToBytes(capture.featureReports[String(id)]!, 'HID_CAPTURE', `/featureReports/${id}`));
  for (const [i, hex] of (capture.inputReports ?? []).entries()) {
    ups.beginBatch();
    ups.apply('Input', hexToBytes(hex, 'HID_CAPTURE', `/inputReports/${i}`));
  }
  return { ups, vars: ups.variables() };
}
