/**
 * The master's own last step, after every fleet step: its hooks, killpower to the UPS (so the load is
 * power-cycled and every machine boots when mains return), then its own power-off. In a drill only
 * drill-safe hooks run and neither killpower nor the power-off happens. Each part is journaled before
 * it takes effect; a final step resumed after a master restart skips what the journal says was done, so
 * killpower is sent once (again only when the previous process died between deciding and hearing back).
 */
import { runHooks } from '../../shared/exec/hook-runner.js';
import { powerOff } from '../../shared/exec/power-off.js';
import type { Master } from '../master.js';
import type { FinalStepContext } from '../sequencer/sequencer.js';

/** What the final step needs of the master. */
export type FinalStepMaster = Pick<Master, 'settings' | 'journal' | 'clock' | 'logger' | 'source'>;

export async function runFinalStep(master: FinalStepMaster, ctx: FinalStepContext): Promise<void> {
  const { settings, journal, clock } = master;
  const log = master.logger.child({ module: 'final-step' });
  const done = ctx.resumed;
  if (done?.hooksDone) {
    log.info('final step resumed: the master hooks already ran before the restart');
  } else {
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
  }
  if (ctx.drill) {
    journal.write({ kind: 'drill-final', ts: clock.now(), note: 'drill: killpower and power-off skipped' });
    log.info('drill: the master would now send killpower and power off');
    return;
  }
  const killpower = settings.shutdown.killpower;
  if (done?.killpower === 'ok' || done?.killpower === 'failed') {
    log.warn(
      { command: killpower, result: done.killpower },
      'killpower was sent before the restart: not again',
    );
  } else {
    const retry = done?.killpower === 'sending';
    journal.write({ kind: 'killpower-sending', ts: clock.now(), command: killpower, retry });
    try {
      log.warn({ command: killpower, retry }, 'sending killpower to the UPS');
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
