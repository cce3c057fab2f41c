/** Loads the real device captures of shared/fixtures/hid (read-only) for the HID tests. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Capture, parseCapture } from '../../../master/sources/usbhid/capture-file.js';
import type { ReportDescriptor } from '../../../master/sources/usbhid/hid/report-descriptor.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURE_DIR =
  process.env.UPSFLEET_HID_FIXTURES ?? resolve(here, '../../../../shared/fixtures/hid');

export interface PathVector {
  path: string;
  type: 'Input' | 'Output' | 'Feature';
  reportId: number;
  offset: number;
  size: number;
  value: number;
}

export interface Fixture {
  file: string;
  text: string;
  capture: Capture & { paths?: PathVector[]; expected?: Record<string, string> };
  descriptor: ReportDescriptor;
}

export function fixtureFiles(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(FIXTURE_DIR, f));
}

export function loadFixture(file: string): Fixture {
  const path = file.includes('/') ? file : join(FIXTURE_DIR, file);
  const text = readFileSync(path, 'utf8');
  const { capture, descriptor } = parseCapture(text, path);
  return { file: path, text, capture: capture as Fixture['capture'], descriptor };
}
