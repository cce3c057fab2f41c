/** Power events an operator must see are logged at warn (journald priority 4: `journalctl -p warning`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POWER_EVENTS, powerEventLogLevel } from '../../../shared/nut/events.js';

describe('power event log level', () => {
  it('warn for trouble (on battery, low battery, UPS lost, shutdown), info for the good news', () => {
    const warn = POWER_EVENTS.filter((e) => powerEventLogLevel(e) === 'warn');
    assert.deepEqual(warn, [
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
    assert.deepEqual(
      POWER_EVENTS.filter((e) => powerEventLogLevel(e) === 'info'),
      ['ONLINE', 'COMMOK', 'CANCEL'],
    );
  });
});
