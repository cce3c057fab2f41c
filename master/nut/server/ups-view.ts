/**
 * What one NUT client sees of the UPS: the hub's variables, `WAIT` before the source's first data,
 * `FSD` in front of ups.status when the FSD latch is set or this client's shutdown step has come, and
 * the variable types GET TYPE reports.
 */
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import type { WritableVariable } from '../../sources/source.js';
import type { HubSnapshot } from '../../state/state-hub.js';
import { NutErr, type NutErrCode } from '../protocol/err-codes.js';

function withFsd(status: string): string {
  const tokens = status.trim().split(/\s+/).filter(Boolean);
  if (tokens.includes('FSD')) return tokens.join(' ');
  return ['FSD', ...tokens].join(' ');
}

function withoutLb(status: string): string {
  return status
    .trim()
    .split(/\s+/)
    .filter((t) => t && t !== 'LB')
    .join(' ');
}

export interface ViewOptions {
  /** FSD in front of ups.status (latch set, or this client's step came). */
  fsd: boolean;
  /**
   * Drop LB from ups.status (until `fsd`): a upsmon secondary that sees OB LB longer than its HOSTSYNC
   * shuts down on its own, which would break the planned order for clients whose step comes later.
   */
  hideLowBattery?: boolean;
}

/** The variables as this client must see them. */
export function clientVars(snapshot: HubSnapshot, view: ViewOptions): UpsVars {
  if (snapshot.waiting) return { 'ups.status': view.fsd ? 'FSD WAIT' : 'WAIT' };
  const vars: UpsVars = { ...snapshot.vars };
  const status = vars['ups.status'];
  if (view.fsd) vars['ups.status'] = withFsd(status ?? '');
  else if (view.hideLowBattery && status !== undefined) vars['ups.status'] = withoutLb(status);
  return vars;
}

/** The ERR code to answer instead of data, or null when the data may be served. */
export function unavailable(snapshot: HubSnapshot): NutErrCode | null {
  return snapshot.stale ? NutErr.DATA_STALE : null;
}

/** The words after `TYPE <ups> <var>`: optional RW, then ENUM, RANGE, STRING:<n> or NUMBER. */
export function typeWords(value: string | undefined, writable: WritableVariable | undefined): string[] {
  const words = writable ? ['RW'] : [];
  if (writable?.type === 'ENUM') return [...words, 'ENUM'];
  if (writable?.type === 'RANGE') return [...words, 'RANGE'];
  if (writable?.type === 'NUMBER') return [...words, 'NUMBER'];
  if (writable?.type === 'STRING') return [...words, `STRING:${Math.max(64, value?.length ?? 0)}`];
  const numeric = value !== undefined && value.trim() !== '' && Number.isFinite(Number(value));
  return numeric ? ['NUMBER'] : [`STRING:${Math.max(64, value?.length ?? 0)}`];
}
