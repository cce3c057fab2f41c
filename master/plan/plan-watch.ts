/**
 * Warns when the sequence stops fitting in the battery: a log line, a PLANWARN notification (the
 * `upsfleet_plan_fits` gauge shows it too) on the change from fitting (or unknown) to not fitting, and
 * PLANOK when it fits again. Only changes are reported, not every runtime update.
 */
import type { Logger } from '../../shared/logger.js';
import type { PlanView } from './plan.js';

export const PLAN_WARN_EVENT = 'PLANWARN';
export const PLAN_OK_EVENT = 'PLANOK';

export class PlanWatch {
  private last: boolean | null = null;

  constructor(
    private readonly opts: {
      logger: Logger;
      notify: (event: string, message: string, extra: Record<string, unknown>) => void;
    },
  ) {}

  check(plan: PlanView): void {
    if (plan.fits === null || plan.fits === this.last) return;
    const before = this.last;
    this.last = plan.fits;
    const facts = {
      requiredS: Math.round(plan.requiredMs / 1000),
      runtimeS: plan.runtimeMs === null ? null : Math.round(plan.runtimeMs / 1000),
      marginS: Math.round(plan.marginMs / 1000),
      measuredByDrill: plan.drill?.runId ?? null,
    };
    if (!plan.fits) {
      const message = `the shutdown sequence needs ${facts.requiredS}s + ${facts.marginS}s margin but battery.runtime is ${facts.runtimeS}s`;
      this.opts.logger.warn(facts, 'battery plan: the sequence does not fit in the runtime');
      this.opts.notify(PLAN_WARN_EVENT, message, { plan: facts });
    } else if (before === false) {
      const message = `the shutdown sequence fits again: ${facts.requiredS}s + ${facts.marginS}s margin within ${facts.runtimeS}s`;
      this.opts.logger.info(facts, 'battery plan: the sequence fits again');
      this.opts.notify(PLAN_OK_EVENT, message, { plan: facts });
    }
  }
}
