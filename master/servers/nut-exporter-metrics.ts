/**
 * The UPS as nut_exporter (github.com/DRuggeri/nut_exporter) shows it, so that Grafana dashboards and alert
 * rules written for NUT read upsfleet's /metrics unchanged (docs/METRICS.md):
 * - every numeric NUT variable as `network_ups_tools_<name>` (dots and dashes as `_`): battery.charge as
 *   network_ups_tools_battery_charge, ups.load as network_ups_tools_ups_load; the words NUT uses for on/off
 *   (enabled, on, true, ...) as 1/0, as nut_exporter does;
 * - `ups.status` as `network_ups_tools_ups_status{flag}`: 1 for each flag set, 0 for nut_exporter's default
 *   list of flags otherwise;
 * - the device.* variables as labels of `network_ups_tools_device_info` (value 1).
 * nut_exporter's series carry no `ups` label of their own (its scrape configs add one); ours carry it, so the
 * published dashboard's `ups="$ups"` selects something without relabelling. While the source has no data
 * (never delivered, or stale: nut_exporter fails the scrape then) the series are absent, not frozen.
 * Variable names come from the UPS, so the gauges are (re)declared before each scrape by sync().
 */
import { Gauge, type Registry } from 'prom-client';
import type { HubSnapshot } from '../state/state-hub.js';

export const NUT_EXPORTER_PREFIX = 'network_ups_tools_';
const STATUS_NAME = `${NUT_EXPORTER_PREFIX}ups_status`;
const DEVICE_INFO_NAME = `${NUT_EXPORTER_PREFIX}device_info`;

/** The flags nut_exporter always exports (0 when unset), its `--nut.statuses` default. */
export const NUT_EXPORTER_STATUSES = [
  'OL',
  'OB',
  'LB',
  'HB',
  'RB',
  'CHRG',
  'DISCHRG',
  'BYPASS',
  'CAL',
  'OFF',
  'OVER',
  'TRIM',
  'BOOST',
  'FSD',
  'SD',
] as const;

/** The device.* variables that become labels of device_info, in nut_exporter's order. */
export const DEVICE_INFO_LABELS = [
  'model',
  'mfr',
  'serial',
  'type',
  'description',
  'contact',
  'location',
  'part',
  'macaddr',
] as const;

const ON = /^(enable|enabled|on|true|active|activated)$/i;
const OFF = /^(disable|disabled|off|false|inactive|deactivated)$/i;

/** battery.charge -> network_ups_tools_battery_charge; anything outside [a-zA-Z0-9_] becomes `_`. */
export function nutExporterName(variable: string): string {
  return NUT_EXPORTER_PREFIX + variable.replace(/[^A-Za-z0-9_]/g, '_');
}

/** A variable's value as nut_exporter reads it: a number, 1/0 for on/off words, else null (not exported). */
export function nutExporterValue(value: string): number | null {
  const v = value.trim();
  if (v === '') return null;
  const n = Number(v);
  if (Number.isFinite(n)) return n;
  if (ON.test(v)) return 1;
  if (OFF.test(v)) return 0;
  return null;
}

/** The series a snapshot yields: metric name -> the variable it shows (the first one, should two map to one name). */
export function nutExporterVariables(vars: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [variable, raw] of Object.entries(vars)) {
    if (variable === 'ups.status' || nutExporterValue(raw) === null) continue;
    const name = nutExporterName(variable);
    if (name === STATUS_NAME || name === DEVICE_INFO_NAME || out.has(name)) continue;
    out.set(name, variable);
  }
  return out;
}

export class NutExporterMetrics {
  /** Variable gauges declared so far, by metric name. */
  private readonly declared = new Set<string>();

  constructor(
    private readonly registry: Registry,
    private readonly hub: () => HubSnapshot,
  ) {
    const live = () => {
      const snap = hub();
      return snap.waiting || snap.stale ? null : snap;
    };
    new Gauge({
      name: STATUS_NAME,
      help: 'UPS status flags (ups.status): 1 when the flag is set, 0 for the usual flags otherwise',
      labelNames: ['ups', 'flag'],
      registers: [registry],
      collect() {
        this.reset();
        const snap = live();
        if (!snap) return;
        const set = new Set((snap.vars['ups.status'] ?? '').split(/\s+/).filter(Boolean));
        for (const flag of set) this.set({ ups: snap.ups, flag }, 1);
        for (const flag of NUT_EXPORTER_STATUSES) if (!set.has(flag)) this.set({ ups: snap.ups, flag }, 0);
      },
    });
    new Gauge({
      name: DEVICE_INFO_NAME,
      help: 'UPS device information (the device.* variables as labels)',
      labelNames: ['ups', ...DEVICE_INFO_LABELS],
      registers: [registry],
      collect() {
        this.reset();
        const snap = live();
        if (!snap) return;
        const labels: Record<string, string> = { ups: snap.ups };
        for (const l of DEVICE_INFO_LABELS) labels[l] = snap.vars[`device.${l}`] ?? '';
        this.set(labels, 1);
      },
    });
  }

  /**
   * Declares a gauge for each numeric variable the UPS has now and removes those it no longer has; call
   * before each scrape. Each gauge reads its value at collect time.
   */
  sync(): void {
    const snap = this.hub();
    const names = snap.waiting || snap.stale ? new Map<string, string>() : nutExporterVariables(snap.vars);
    for (const name of [...this.declared]) {
      if (names.has(name)) continue;
      this.registry.removeSingleMetric(name);
      this.declared.delete(name);
    }
    const hub = this.hub;
    for (const [name, variable] of names) {
      // declared already, or a name another module of ours uses (left to it)
      if (this.declared.has(name) || this.registry.getSingleMetric(name)) continue;
      new Gauge({
        name,
        help: `NUT variable ${variable} (as nut_exporter exports it)`,
        labelNames: ['ups'],
        registers: [this.registry],
        collect() {
          this.reset();
          const s = hub();
          if (s.waiting || s.stale) return;
          const value = nutExporterValue(s.vars[variable] ?? '');
          if (value !== null) this.set({ ups: s.ups }, value);
        },
      });
      this.declared.add(name);
    }
  }
}
