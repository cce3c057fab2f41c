/**
 * How widely the fleet spreads its reconnects after losing this master (the welcome's reconnectWindowMs).
 * After a master restart every agent notices at the same moment; drawn over this window, their first
 * retries arrive at about fleetSize / window per second, which the master must take without falling
 * behind. ACCEPT_COST_MS is what one agent costs the master to take back (TLS handshake, upgrade, hello,
 * welcome and snapshot: about 1 ms of one core, measured by test/load/reconnect-storm.test.ts), doubled
 * for a slower machine and for the agents that come back outside the window. A small fleet gets a window
 * below the agents' own first backoff step (500 ms), which then wins: it reconnects as fast as before.
 */
export const ACCEPT_COST_MS = 2;
/** Never more than this: the fleet must be back well within a typical deadtime budget. */
export const MAX_RECONNECT_WINDOW_MS = 60_000;

export function reconnectWindowMs(fleetSize: number): number {
  return Math.min(MAX_RECONNECT_WINDOW_MS, Math.max(0, Math.round(fleetSize * ACCEPT_COST_MS)));
}
