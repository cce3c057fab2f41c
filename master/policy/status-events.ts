/**
 * Power events from one `ups.status` transition, named as upsmon's NOTIFYTYPE values. Pure: the policy
 * feeds it the previous and current token sets and emits what comes back.
 */
import type { PowerEvent } from '../../shared/nut/events.js';

export interface StatusEvent {
  event: PowerEvent;
  message: string;
}

/** `before` is null on the first real data: nothing was known, so every present token counts as new. */
export function statusEvents(
  ups: string,
  before: ReadonlySet<string> | null,
  after: ReadonlySet<string>,
): StatusEvent[] {
  const was = (t: string) => before?.has(t) ?? false;
  const appeared = (t: string) => after.has(t) && !was(t);
  const out: StatusEvent[] = [];
  // ONLINE only on a real return of mains: a master starting on OL has nothing to announce
  if (was('OB') && !after.has('OB') && after.has('OL'))
    out.push({ event: 'ONLINE', message: `UPS ${ups} on line power` });
  if (appeared('OB')) out.push({ event: 'ONBATT', message: `UPS ${ups} on battery` });
  if (appeared('LB')) out.push({ event: 'LOWBATT', message: `UPS ${ups} battery is low` });
  if (appeared('FSD')) out.push({ event: 'FSD', message: `UPS ${ups}: forced shutdown in progress` });
  if (appeared('RB')) out.push({ event: 'REPLBATT', message: `UPS ${ups} battery needs to be replaced` });
  return out;
}

/** WAIT (upsd before the driver's first dump) or no status at all: no data yet, never an outage. */
export function isNoData(tokens: ReadonlySet<string>): boolean {
  return tokens.size === 0 || tokens.has('WAIT');
}
