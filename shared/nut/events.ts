/** Power events, named as NUT's upsmon NOTIFYTYPE values plus upsfleet's own. */
export const POWER_EVENTS = [
  'ONLINE',
  'ONBATT',
  'LOWBATT',
  'FSD',
  'COMMOK',
  'COMMBAD',
  'REPLBATT',
  'NOCOMM',
  'SHUTDOWN',
  'CANCEL',
  'CRITICAL',
  'EARLY',
  'KILLPOWER',
] as const;

export type PowerEvent = (typeof POWER_EVENTS)[number];

/** Events an operator must see (`journalctl -p warning`): the UPS on battery or failing, or the fleet going down. */
const WARNING_EVENTS: ReadonlySet<PowerEvent> = new Set([
  'ONBATT',
  'LOWBATT',
  'FSD',
  'COMMBAD',
  'REPLBATT',
  'NOCOMM',
  'SHUTDOWN',
  'CRITICAL',
  'EARLY',
  'KILLPOWER',
]);

/** The log level of a power event's line: warn for trouble, info for the good news (ONLINE, COMMOK, CANCEL). */
export function powerEventLogLevel(event: PowerEvent): 'warn' | 'info' {
  return WARNING_EVENTS.has(event) ? 'warn' : 'info';
}
