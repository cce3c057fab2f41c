/**
 * The master's own last step, after every fleet step: its hooks, killpower to the UPS (so the load is
 * power-cycled and every machine boots when mains return), then its own power-off. In a drill only
 * drill-safe hooks run and neither killpower nor the power-off happens.
 */
import { runHooks } from '../../shared/exec/hook-runner.js';
import { powerOff } from '../../shared/exec/power-off.js';
import type { Master } from '../master.js';

export async function runFinalStep(master: Master, ctx: { drill: boolean; reason: string }): Promise<void> {
  const { settings, journal, clock } = master;
  const log = master.logger.child({ module: 'final-step' });
  const hooks = await runHooks(settings.shutdown.hooks, {
    logger: log,
    drill: ctx.drill,
    clock,
    env: { UPSFLEET_REASON: ctx.reason, UPSFLEET_DRILL: ctx.drill ? '1' : '0' },
  });
  journal.write({
    kind: 'master-hooks',
    ts: clock.now(),
    failures: hooks.failures,
    durationMs: hooks.durationMs,
  });
  if (ctx.drill) {
    journal.write({ kind: 'drill-final', ts: clock.now(), note: 'drill: killpower and power-off skipped' });
    log.info('drill: the master would now send killpower and power off');
    return;
  }
  const killpower = settings.shutdown.killpower;
  try {
    log.warn({ command: killpower }, 'sending killpower to the UPS');
    await master.source.instantCommand(killpower);
    journal.write({ kind: 'killpower', ts: clock.now(), command: killpower, ok: true });
  } catch (err) {
    // the power-off still happens: a running master on a dying battery protects nobody
    log.error({ err, command: killpower }, 'killpower failed; the UPS may not power-cycle the load');
    journal.write({
      kind: 'killpower',
      ts: clock.now(),
      command: killpower,
      ok: false,
      error: (err as Error).message,
    });
  }
  const result = await powerOff({
    command: settings.shutdown.command,
    dryRun: settings.shutdown.dryRun,
    marker: settings.shutdown.marker,
    logger: log,
    reason: ctx.reason,
    id: settings.id,
    clock,
  });
  journal.write({ kind: 'master-poweroff', ts: clock.now(), dryRun: settings.shutdown.dryRun, result });
}
