/**
 * The master's notifications: the notify command (UPSFLEET_* environment, as on the agents), the
 * webhooks and the services of `notify.urls` (ntfy, Slack, ..., through a bounded queue), on power events, the start of a sequence, a finished drill and the battery-plan warnings.
 * Fire and forget: a slow or failing receiver never delays the fleet; stop() waits for what is in flight.
 */
import type { Clock } from '../../shared/clock.js';
import { runNotify } from '../../shared/exec/notify.js';
import { sendWebhooks, type WebhookSpec } from '../../shared/exec/webhook.js';
import type { Logger } from '../../shared/logger.js';
import { NotifyQueue } from '../../shared/notify/notify-queue.js';
import { type ServiceTarget, serviceMessage } from '../../shared/notify/service-url.js';

export interface NotifySettings {
  command?: string | string[];
  timeoutMs: number;
  webhooks: WebhookSpec[];
  services?: ServiceTarget[];
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
  /** Deliveries to notify.urls: queued, bounded, retried, beside everything else. */
  readonly queue: NotifyQueue;

  constructor(private readonly opts: MasterNotifierOptions) {
    this.settings = opts.notify;
    this.queue = new NotifyQueue({ logger: opts.logger.child({ module: 'notify-urls' }), clock: opts.clock });
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
    if (notify.services && notify.services.length > 0) {
      this.queue.enqueue(
        notify.services,
        serviceMessage({ event, message, ups, source: `master ${masterId}`, ts: clock.now() }),
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

  /** Waits for what is in flight (the queue: at most `queueDrainMs` more), then stops the queue. */
  async stop(queueDrainMs = 5_000): Promise<void> {
    await Promise.allSettled([...this.pending, this.queue.drain(queueDrainMs)]);
    this.queue.stop();
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
