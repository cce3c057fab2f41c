/**
 * Vendor tables: what a vendor's firmware does differently from the standard. Each only adds or
 * overrides; a device without a table (or with an unknown vendor ID) gets the generic profile and the
 * standard mapping alone. Facts come from nut.md §4.2/§4.4 and the captures in shared/fixtures/hid.
 */

import type { UpsVars } from '../../../../shared/nut/ups-state.js';
import type { ReportField } from '../hid/report-descriptor.js';
import { matchesSuffix } from './path-match.js';
import type { VariableRule } from './standard-variables.js';
import { formatPlain } from './standard-variables.js';

export interface VendorProfile {
  /** Short id shown by `upsfleet probe`: apc, cyberpower, eaton, tripplite, powercom, generic. */
  id: string;
  name: string;
  vendorIds: string[];
  /** Used when the USB manufacturer string is empty. */
  defaultManufacturer: string;
  /** Default ups.delay.shutdown / ups.delay.start in seconds. */
  offDelay: number;
  onDelay: number;
  /** Repairs known descriptor bugs in place, before any report is decoded. */
  fixDescriptor?(fields: ReportField[]): void;
  /** Splits a USB product string into model and firmware where the vendor packs both. */
  identity?(product: string): { model: string; firmware?: string; firmwareAux?: string };
  /** Rules tried before the standard ones; a rule with a standard name replaces it. */
  rules?: VariableRule[];
  /** Extra status tokens from vendor booleans. */
  statusTokens?(flag: (patterns: string[]) => boolean | undefined): string[];
  /** Last corrections on the published variables. */
  postProcess?(vars: UpsVars): void;
}

function findField(fields: ReportField[], pattern: string): ReportField | undefined {
  return fields.find((f) => matchesSuffix(f.path, pattern));
}

const APC: VendorProfile = {
  id: 'apc',
  name: 'APC',
  vendorIds: ['051d'],
  defaultManufacturer: 'American Power Conversion',
  offDelay: 20,
  onDelay: 30,
  identity(product) {
    // "Back-UPS 500 FW: 6.5.I USB FW: c1 " -> model "Back-UPS 500", firmware "6.5.I", aux "c1".
    const m = /^(.*?)\s+FW\s*:\s*(\S+)(?:\s+USB FW\s*:\s*(\S+))?/.exec(product.trim());
    if (!m) return { model: product.trim() };
    return { model: m[1]!.trim(), firmware: m[2], ...(m[3] ? { firmwareAux: m[3] } : {}) };
  },
  rules: [
    {
      name: 'input.sensitivity',
      paths: ['Input.ff860061'],
      format: (v) => ({ 0: 'low', 1: 'medium', 2: 'high' })[v],
    },
  ],
};

const CYBERPOWER: VendorProfile = {
  id: 'cyberpower',
  name: 'CyberPower',
  vendorIds: ['0764'],
  defaultManufacturer: 'CPS',
  // Many CyberPower models count delays in whole minutes and round down: shorter values become 0.
  offDelay: 60,
  onDelay: 120,
  fixDescriptor(fields) {
    // Broken descriptors give Output.Voltage the logical range of the high-transfer point (e.g. 136..142);
    // the input voltage's range is the right one.
    const output = findField(fields, 'Output.Voltage');
    const input = findField(fields, 'Input.Voltage');
    if (output && input && output.logicalMax < input.logicalMax && output.logicalMin > 0) {
      output.logicalMin = input.logicalMin;
      output.logicalMax = input.logicalMax;
    }
  },
  postProcess(vars) {
    // Some models report the battery voltage x1.5 ...
    const voltage = Number(vars['battery.voltage']);
    const nominal = Number(vars['battery.voltage.nominal']);
    if (Number.isFinite(voltage) && nominal > 0 && voltage / nominal > 1.4) {
      vars['battery.voltage'] = formatPlain(Number(((voltage * 2) / 3).toFixed(1)));
    }
    // ... and frequencies in 0.1 Hz.
    for (const name of ['input.frequency', 'output.frequency']) {
      const hz = Number(vars[name]);
      if (vars[name] !== undefined && Number.isFinite(hz) && hz > 100) vars[name] = formatPlain(hz / 10);
    }
  },
};

const EATON: VendorProfile = {
  id: 'eaton',
  name: 'Eaton/MGE',
  vendorIds: ['0463', '047c', '0592', '03f0', '2b2d', '04b3', '09d6'],
  defaultManufacturer: 'EATON',
  offDelay: 20,
  onDelay: 30,
  statusTokens(flag) {
    // MGE firmware clears PowerSummary.PresentStatus.Good when the output is off.
    return flag(['PowerSummary.PresentStatus.Good']) === false ? ['OFF'] : [];
  },
};

const TRIPPLITE: VendorProfile = {
  id: 'tripplite',
  name: 'Tripp Lite',
  vendorIds: ['09ae'],
  defaultManufacturer: 'Tripp Lite',
  offDelay: 20,
  onDelay: 30,
};

const POWERCOM: VendorProfile = {
  id: 'powercom',
  name: 'PowerCOM',
  vendorIds: ['0d9f'],
  defaultManufacturer: 'PowerCOM',
  offDelay: 20,
  onDelay: 30,
};

export const GENERIC_PROFILE: VendorProfile = {
  id: 'generic',
  name: 'generic (standard HID Power Device)',
  vendorIds: [],
  defaultManufacturer: 'unknown',
  offDelay: 20,
  onDelay: 30,
};

export const VENDOR_PROFILES: readonly VendorProfile[] = [APC, CYBERPOWER, EATON, TRIPPLITE, POWERCOM];

/** The profile for a USB vendor ID (4 hex digits, any case), or the generic one. */
export function vendorProfileFor(vendorId: string): VendorProfile {
  const vid = vendorId.toLowerCase();
  return VENDOR_PROFILES.find((p) => p.vendorIds.includes(vid)) ?? GENERIC_PROFILE;
}

/** USB vendor IDs known to make HID Power Devices, for listing candidates in `upsfleet probe`. */
export const KNOWN_UPS_VENDOR_IDS: ReadonlySet<string> = new Set([
  ...VENDOR_PROFILES.flatMap((p) => p.vendorIds),
  '06da',
  '050d',
  '10af',
  '05dd',
  '075d',
  '1cb0',
  '04d8',
  '4234',
  '2e66',
  '2e51',
  '3746',
]);
