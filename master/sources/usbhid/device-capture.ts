/**
 * Reading a whole device once into an `upsfleet-hid-capture/1` object: identity, descriptor and every
 * feature report it answers. Used by `upsfleet probe` (print or `--capture FILE`).
 */

import type { HidBinding, HidDeviceInfo } from './bindings/hid-binding.js';
import { CAPTURE_FORMAT, type Capture } from './capture-file.js';
import { bytesToHex } from './hid/hex.js';
import { parseReportDescriptor, type ReportDescriptor } from './hid/report-descriptor.js';

export async function captureDevice(
  binding: HidBinding,
  info: HidDeviceInfo,
  now: Date = new Date(),
): Promise<{ capture: Capture; descriptor: ReportDescriptor; unanswered: number[] }> {
  const device = await binding.open(info.path);
  try {
    const raw = await device.reportDescriptor();
    const descriptor = parseReportDescriptor(raw);
    const featureReports: Record<string, string> = {};
    const unanswered: number[] = [];
    const ids = [...descriptor.reportLengths.Feature.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      try {
        const bytes = await device.getFeatureReport(id, descriptor.reportLengths.Feature.get(id) ?? 64);
        if (bytes.length > 0) featureReports[String(id)] = bytesToHex(bytes);
      } catch {
        unanswered.push(id);
      }
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
      inputReports: [],
      source: `upsfleet probe --capture, ${now.toISOString()}`,
      ...(unanswered.length ? { notes: `feature reports not answered: ${unanswered.join(', ')}` } : {}),
    };
    return { capture, descriptor, unanswered };
  } finally {
    await device.close();
  }
}
