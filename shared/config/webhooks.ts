/** The `notify.webhooks` section resolved: durations parsed, defaults applied. */
import type { Static } from '@sinclair/typebox';
import { parseDuration } from '../duration.js';
import type { WebhookSpec } from '../exec/webhook.js';
import { parseServiceUrl, type ServiceTarget } from '../notify/service-url.js';
import type { Notify, NotifyUrl, Webhook } from './common-schema.js';
import { DEFAULT_NOTIFY_TIMEOUT_MS } from './defaults.js';
import { commandArgv } from './resolved.js';

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

/** `notify.urls` parsed (a URL that does not parse is a config error naming its place). */
export function resolveServiceUrls(
  raw: ReadonlyArray<Static<typeof NotifyUrl>> | undefined,
): ServiceTarget[] {
  return (raw ?? []).map((u, i) =>
    typeof u === 'string'
      ? parseServiceUrl(u, [], `/notify/urls/${i}`)
      : parseServiceUrl(u.url, u.events ?? [], `/notify/urls/${i}/url`),
  );
}

export interface NotifySpec {
  command?: string | string[];
  timeoutMs: number;
  webhooks: WebhookSpec[];
  /** Services of `notify.urls` (ntfy, Slack, Discord, Telegram, Teams, e-mail). */
  services: ServiceTarget[];
}

/** The `notify:` section, the same on master and agent: command, its timeout, webhooks. */
export function resolveNotify(raw: Static<typeof Notify> | undefined): NotifySpec {
  return {
    ...(raw?.command !== undefined ? { command: commandArgv(raw.command, []) } : {}),
    timeoutMs:
      raw?.timeout === undefined ? DEFAULT_NOTIFY_TIMEOUT_MS : parseDuration(raw.timeout, '/notify/timeout'),
    webhooks: resolveWebhooks(raw?.webhooks),
    services: resolveServiceUrls(raw?.urls),
  };
}
