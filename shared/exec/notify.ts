/**
 * The notify command (like upsmon's NOTIFYCMD): run on every power event with the event described in
 * UPSFLEET_* environment variables. NOTIFYTYPE and UPSNAME are set too, so existing NUT notify
 * scripts work unchanged. A failing notifier is logged and never thrown: it must not disturb the rest.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import {
  type Command,
  type CommandResult,
  commandSucceeded,
  describeResult,
  runCommand,
} from './run-command.js';

export interface NotifyTarget {
  command?: Command;
  timeoutMs: number;
  agentId: string;
  group: string;
  logger: Logger;
  clock?: Clock;
  /** Seam for tests; defaults to runCommand. */
  run?: typeof runCommand;
}

export interface NotifyEvent {
  event: string;
  ups: string;
  message: string;
  /** The UPS variables last known for this UPS (ups.status, battery.charge, battery.runtime). */
  vars?: Readonly<Record<string, string>>;
}

export function notifyEnv(
  target: Pick<NotifyTarget, 'agentId' | 'group'>,
  ev: NotifyEvent,
): Record<string, string> {
  const vars = ev.vars ?? {};
  return {
    UPSFLEET_EVENT: ev.event,
    UPSFLEET_UPS: ev.ups,
    UPSFLEET_MESSAGE: ev.message,
    UPSFLEET_AGENT_ID: target.agentId,
    UPSFLEET_GROUP: target.group,
    UPSFLEET_STATUS: vars['ups.status'] ?? '',
    UPSFLEET_CHARGE: vars['battery.charge'] ?? '',
    UPSFLEET_RUNTIME: vars['battery.runtime'] ?? '',
    // NUT upsmon NOTIFYCMD compatibility
    NOTIFYTYPE: ev.event,
    UPSNAME: ev.ups,
  };
}

/** Runs the notify command for one event; resolves to null when no command is configured. Never rejects. */
export async function runNotify(target: NotifyTarget, ev: NotifyEvent): Promise<CommandResult | null> {
  if (target.command === undefined) return null;
  const log = target.logger.child({ notifyEvent: ev.event, ups: ev.ups });
  try {
    const run = target.run ?? runCommand;
    const result = await run(target.command, {
      timeoutMs: target.timeoutMs,
      env: notifyEnv(target, ev),
      ...(target.clock ? { clock: target.clock } : {}),
    });
    if (commandSucceeded(result)) {
      log.debug({ durationMs: result.durationMs }, 'notify command ok');
    } else {
      log.warn(
        {
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          stderr: result.stderr.trim().slice(0, 2_000),
        },
        `notify command failed: ${describeResult(result)}`,
      );
    }
    return result;
  } catch (err) {
    log.warn({ err }, 'notify command failed');
    return null;
  }
}
