/** The `notify.webhooks` section resolved: durations parsed, defaults applied. */
import type { Static } from '@sinclair/typebox';
import { parseDuration } from '../duration.js';
import type { WebhookSpec } from '../exec/webhook.js';
import type { Webhook } from './common-schema.js';

export const DEFAULT_WEBHOOK_RETRIES = 3;
export const DEFAULT_WEBHOOK_BACKOFF_MS = 1_000;
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

export function resolveWebhooks(raw: ReadonlyArray<Static<typeof Webhook>> | undefined): WebhookSpec[] {
  return (raw ?? []).map((w) => ({
    url: w.url,
    headers: { ...(w.headers ?? {}) },
    events: [...(w.events ?? [])],
    retries: w.retries ?? DEFAULT_WEBHOOK_RETRIES,
    backoffMs: w.backoff === undefined ? DEFAULT_WEBHOOK_BACKOFF_MS : parseDuration(w.backoff),
    timeoutMs: w.timeout === undefined ? DEFAULT_WEBHOOK_TIMEOUT_MS : parseDuration(w.timeout),
  }));
}
