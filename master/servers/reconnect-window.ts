/**
 * How widely the fleet spreads its reconnects after losing this master (the welcome's reconnectWindowMs).
 * After a master restart every agent notices at the same moment; drawn over this window, their first
 * retries arrive at about fleetSize / window per second, which the master must take without falling
 * behind. ACCEPT_COST_MS is what one agent costs the master to take back (TLS handshake, upgrade, hello,
 * welcome and snapshot), as measured by test/load/reconnect-storm.test.ts: 10,000 agents served in 26 s
 * (2.6 ms each) on 2 cores shared with the agents' own processes; rounded up. A small fleet gets a window
 * below the agents' own first backoff step (500 ms), which then wins: it reconnects as fast as before.
 */
export const ACCEPT_COST_MS = 3;
/** Never more than this: the fleet must be back well within a typical deadtime budget. */
export const MAX_RECONNECT_WINDOW_MS = 60_000;

export function reconnectWindowMs(fleetSize: number): number {
  return Math.min(MAX_RECONNECT_WINDOW_MS, Math.max(0, Math.round(fleetSize * ACCEPT_COST_MS)));
}
