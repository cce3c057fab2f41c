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

/** The variables as this client must see them. */
export function clientVars(snapshot: HubSnapshot, fsd: boolean): UpsVars {
  if (snapshot.waiting) return { 'ups.status': fsd ? 'FSD WAIT' : 'WAIT' };
  const vars: UpsVars = { ...snapshot.vars };
  if (fsd) vars['ups.status'] = withFsd(vars['ups.status'] ?? '');
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
