/**
 * How much longer than its deadtime an agent waits before it shuts down on its own when the master is lost
 * while on battery. Every agent counts its deadtime from the same moment (the master's last message), so
 * without this the whole fleet would go down at the same second, in no order; spacing the steps keeps
 * step n down before step n+1 even with nobody left to give orders.
 */

/** (step - 1) × spacing for a group at 1-based `step`; 0 for an early group (null: it leaves first anyway). */
export function lostMasterDelayMs(step: number | null, spacingMs: number): number {
  if (step === null || step < 1) return 0;
  return Math.round((step - 1) * spacingMs);
}
