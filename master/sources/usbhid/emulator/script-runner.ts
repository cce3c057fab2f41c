/**
 * Carries out emulator commands (see emulator-script.ts) on a UpsEmulator: one at a time, a script's `wait`
 * on the injected clock. A command that fails (a path the device does not have) is logged and the script
 * goes on: a built-in scenario names fields not every UPS has.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../../../shared/clock.js';
import type { ScriptStep } from './emulator-script.js';
import type { UpsEmulator } from './ups-emulator.js';

/** Applies one non-wait command; returns false (after logging why) when it could not be applied. */
export function applyCommand(emulator: UpsEmulator, step: ScriptStep, log: Logger): boolean {
  try {
    switch (step.kind) {
      case 'wait':
        return true;
      case 'set':
        emulator.set(step.pattern, step.value);
        return true;
      case 'report':
        emulator.setFeatureReport(step.hex);
        return true;
      case 'input':
        emulator.input(step.hex);
        return true;
      case 'inputs':
        emulator.sendInputReports();
        return true;
      case 'unplug':
        emulator.unplug();
        return true;
      case 'replug':
        emulator.plug();
        return true;
    }
  } catch (err) {
    log.warn({ err, line: step.line, command: step.kind }, 'command not applied');
    return false;
  }
}

/** Runs a script to its end (or until `signal` aborts); resolves when done. */
export async function runScript(
  emulator: UpsEmulator,
  steps: ScriptStep[],
  clock: Clock,
  log: Logger,
  signal?: AbortSignal,
): Promise<void> {
  for (const step of steps) {
    if (signal?.aborted) return;
    if (step.kind === 'wait') {
      await new Promise<void>((resolve) => {
        const timer = clock.setTimer(step.ms, resolve);
        signal?.addEventListener('abort', () => {
          timer.cancel();
          resolve();
        });
      });
      continue;
    }
    applyCommand(emulator, step, log);
  }
  if (!signal?.aborted) log.info({ steps: steps.length }, 'script done');
}
