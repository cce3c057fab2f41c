/**
 * Delivers notifications to the services of `notify.urls` beside the shutdown path, never in it:
 * enqueue() only builds the requests and returns; a few workers send them with a timeout each, retry
 * what may succeed later (network errors, timeouts, 408/425/429/5xx, SMTP 4xx) with a doubling backoff,
 * and give up on the rest. The queue is bounded: when full, the oldest waiting message is dropped,
 * counted and logged, so a dead service during a long outage never holds memory or the news of now.
 * Only redacted URLs are logged.
 */
import { type Clock, systemClock } from '../clock.js';
import { postJson } from '../exec/webhook.js';
import type { Logger } from '../logger.js';
import type { Delivery, ServiceMessage, ServiceTarget } from './service-url.js';

export const DEFAULT_NOTIFY_QUEUE_SIZE = 100;
export const DEFAULT_NOTIFY_RETRIES = 3;
export const DEFAULT_NOTIFY_BACKOFF_MS = 2_000;
export const DEFAULT_NOTIFY_SEND_TIMEOUT_MS = 10_000;
const WORKERS = 4;

/** A failed send: `retry` when trying again later may work. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

export type Sender = (d: Delivery, timeoutMs: number) => Promise<void>;

export interface NotifyQueueOptions {
  logger: Logger;
  clock?: Clock;
  capacity?: number;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
  /** Seam for tests; default: HTTP POST, or SMTP through nodemailer (loaded on first use). */
  send?: Sender;
}

export interface NotifyQueueStats {
  queued: number;
  inFlight: number;
  /** Waiting for their backoff before the next attempt. */
  retrying: number;
  sent: number;
  failed: number;
  dropped: number;
}

interface Job {
  service: string;
  where: string;
  event: string;
  delivery: Delivery;
  attempts: number;
}

const RETRYABLE = new Set([408, 425, 429]);

/** The default sender: a JSON POST, or an e-mail. */
export async function sendDelivery(d: Delivery, timeoutMs: number): Promise<void> {
  if (d.kind === 'smtp') {
    const { sendMail } = await import('./smtp-send.js');
    return sendMail(d, timeoutMs);
  }
  let status: number;
  try {
    status = await postJson(d.url, d.body, d.headers, timeoutMs);
  } catch (err) {
    throw new DeliveryError((err as Error).message, true);
  }
  if (status >= 200 && status < 300) return;
  throw new DeliveryError(`HTTP ${status}`, status >= 500 || RETRYABLE.has(status));
}

export class NotifyQueue {
  private readonly queue: Job[] = [];
  private readonly waiting = new Set<{ cancel(): void }>();
  private readonly idle = new Set<() => void>();
  private inFlight = 0;
  private counts = { sent: 0, failed: 0, dropped: 0 };
  private stopped = false;
  private readonly clock: Clock;
  private readonly capacity: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly send: Sender;

  constructor(private readonly opts: NotifyQueueOptions) {
    this.clock = opts.clock ?? systemClock;
    this.capacity = opts.capacity ?? DEFAULT_NOTIFY_QUEUE_SIZE;
    this.retries = opts.retries ?? DEFAULT_NOTIFY_RETRIES;
    this.backoffMs = opts.backoffMs ?? DEFAULT_NOTIFY_BACKOFF_MS;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_NOTIFY_SEND_TIMEOUT_MS;
    this.send = opts.send ?? sendDelivery;
  }

  /** Queues the message for every target that wants its event. Returns at once; never throws. */
  enqueue(targets: readonly ServiceTarget[], msg: ServiceMessage): void {
    if (this.stopped) return;
    for (const t of targets) {
      if (t.events.length > 0 && !t.events.includes(msg.event)) continue;
      let deliveries: Delivery[];
      try {
        deliveries = t.build(msg);
      } catch (err) {
        this.opts.logger.warn({ service: t.service, url: t.redacted, err }, 'notification not built');
        continue;
      }
      for (const delivery of deliveries)
        this.push({ service: t.service, where: t.redacted, event: msg.event, delivery, attempts: 0 });
    }
    this.pump();
  }

  stats(): NotifyQueueStats {
    return {
      queued: this.queue.length,
      inFlight: this.inFlight,
      retrying: this.waiting.size,
      ...this.counts,
    };
  }

  /** Resolves once nothing is queued, sending or waiting to retry, or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        timer.cancel();
        this.idle.delete(onIdle);
        resolve(ok);
      };
      const onIdle = () => done(true);
      const timer = this.clock.setTimer(timeoutMs, () => done(false));
      this.idle.add(onIdle);
    });
  }

  /** Stops retrying and taking new messages; what is being sent finishes (each within its timeout). */
  stop(): void {
    this.stopped = true;
    for (const w of this.waiting) w.cancel();
    this.waiting.clear();
    if (this.queue.length > 0)
      this.opts.logger.warn({ pending: this.queue.length }, 'notifications not sent: stopping');
    this.queue.length = 0;
    this.checkIdle();
  }

  private push(job: Job): void {
    this.queue.push(job);
    if (this.queue.length <= this.capacity) return;
    const old = this.queue.shift()!;
    this.counts.dropped++;
    this.opts.logger.warn(
      { service: old.service, url: old.where, event: old.event, dropped: this.counts.dropped },
      'notification queue full: the oldest message was dropped',
    );
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < WORKERS && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.inFlight++;
      void this.attempt(job).finally(() => {
        this.inFlight--;
        this.pump();
        this.checkIdle();
      });
    }
  }

  private async attempt(job: Job): Promise<void> {
    const log = this.opts.logger;
    job.attempts++;
    try {
      await this.send(job.delivery, this.timeoutMs);
      this.counts.sent++;
      log.debug(
        { service: job.service, url: job.where, event: job.event, attempts: job.attempts },
        'notification sent',
      );
    } catch (err) {
      const retry = err instanceof DeliveryError ? err.retry : true;
      const error = (err as Error).message;
      if (retry && job.attempts <= this.retries && !this.stopped) {
        const delay = this.backoffMs * 2 ** (job.attempts - 1);
        log.info(
          {
            service: job.service,
            url: job.where,
            event: job.event,
            attempts: job.attempts,
            error,
            retryInMs: delay,
          },
          'notification failed, will retry',
        );
        const handle = this.clock.setTimer(delay, () => {
          this.waiting.delete(handle);
          if (this.stopped) return;
          this.push(job);
          this.pump();
          this.checkIdle();
        });
        this.waiting.add(handle);
        return;
      }
      this.counts.failed++;
      log.warn(
        { service: job.service, url: job.where, event: job.event, attempts: job.attempts, error },
        'notification failed',
      );
    }
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0 && this.waiting.size === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    for (const f of [...this.idle]) f();
  }
}
