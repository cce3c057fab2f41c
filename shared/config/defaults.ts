/** Defaults that both sides share. */
import { platform } from 'node:os';

/** The power-off command for this OS, as an argv. */
export function defaultPowerOffCommand(os: NodeJS.Platform = platform()): string[] {
  switch (os) {
    case 'darwin':
      return ['shutdown', '-h', 'now'];
    case 'win32':
      return ['shutdown', '/s', '/t', '0'];
    default:
      return ['systemctl', 'poweroff'];
  }
}

export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;
export const DEFAULT_NOTIFY_TIMEOUT_MS = 10_000;
export const DEFAULT_DEADTIME_MS = 15_000;
export const DEFAULT_STEP_DEADLINE_MS = 180_000;
export const DEFAULT_STEP_SETTLE_MS = 5_000;
export const DEFAULT_DEBOUNCE_MS = 5_000;
/** Extra wait per step for agents that lost the master while on battery (`policy.lostMasterSpacing`). */
export const DEFAULT_LOST_MASTER_SPACING_MS = 15_000;
export const DEFAULT_PING_INTERVAL_MS = 5_000;
export const DEFAULT_LISTEN = '127.0.0.1:8740';
export const DEFAULT_KILLPOWER = 'shutdown.return';
