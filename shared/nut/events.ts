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
