/**
 * The master's notifications: the notify command (UPSFLEET_* environment, as on the agents) and the
 * webhooks, on power events, the start of a sequence, a finished drill and the battery-plan warnings.
 * Fire and forget: a slow or failing receiver never delays the fleet; stop() waits for what is in flight.
 */
import type { Clock } from '../../shared/clock.js';
import { runNotify } from '../../shared/exec/notify.js';
import { sendWebhooks, type WebhookSpec } from '../../shared/exec/webhook.js';
import type { Logger } from '../../shared/logger.js';

export interface NotifySettings {
  command?: string | string[];
  timeoutMs: number;
  webhooks: WebhookSpec[];
}

export interface MasterNotifierOptions {
  masterId: string;
  ups: string;
  notify: NotifySettings;
  vars: () => Readonly<Record<string, string>>;
  clock: Clock;
  logger: Logger;
}

/** The group the master reports itself in (UPSFLEET_GROUP, webhook source). */
export const MASTER_GROUP = '@master';

export class MasterNotifier {
  private readonly pending = new Set<Promise<unknown>>();
  private settings: NotifySettings;

  constructor(private readonly opts: MasterNotifierOptions) {
    this.settings = opts.notify;
  }

  /** A reloaded `notify:` section: used from the next notification on (those in flight finish as they began). */
  setNotify(notify: NotifySettings): void {
    this.settings = notify;
  }

  notify(event: string, message: string, extra: Record<string, unknown> = {}): void {
    const { masterId, ups, logger, clock } = this.opts;
    const notify = this.settings;
    const vars = this.opts.vars();
    if (notify.command !== undefined) {
      this.track(
        runNotify(
          {
            command: notify.command,
            timeoutMs: notify.timeoutMs,
            agentId: masterId,
            group: MASTER_GROUP,
            logger: logger.child({ module: 'notify' }),
            clock,
          },
          { event, ups, message, vars },
        ),
      );
    }
    if (notify.webhooks.length > 0) {
      this.track(
        sendWebhooks(
          notify.webhooks,
          {
            ...extra,
            event,
            message,
            ups,
            source: { role: 'master', id: masterId },
            ts: new Date(clock.now()).toISOString(),
            vars,
          },
          { logger: logger.child({ module: 'webhook' }) },
        ),
      );
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
