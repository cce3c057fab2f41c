/**
 * Webhook notifications: one JSON POST per event to each configured URL, retried with exponential backoff
 * (network error, timeout, 408/425/429/5xx), never thrown. Works for ntfy, Slack-compatible relays, Home
 * Assistant and anything that takes JSON. Header values may hold secrets: they are never logged.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '../logger.js';

export interface WebhookSpec {
  url: string;
  /** Extra headers (e.g. Authorization); never logged. */
  headers: Record<string, string>;
  /** Only these events (empty: every event). */
  events: string[];
  /** Attempts after the first one. */
  retries: number;
  timeoutMs: number;
  /** First backoff; doubles on every retry. */
  backoffMs: number;
}

export interface WebhookPayload {
  event: string;
  message: string;
  ups: string;
  /** Who sends: the master's id or the agent's. */
  source: { role: 'master' | 'agent'; id: string; group?: string };
  ts: string;
  vars?: Readonly<Record<string, string>>;
  [extra: string]: unknown;
}

export interface WebhookResult {
  url: string;
  ok: boolean;
  attempts: number;
  status: number | null;
  error: string | null;
}

export interface WebhookDeps {
  logger: Logger;
  /** Seam for tests: how to wait between attempts. */
  sleep?: (ms: number) => Promise<void>;
  /** Seam for tests: one POST; resolves to the HTTP status. */
  post?: (url: string, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<number>;
}

const RETRYABLE = new Set([408, 425, 429]);

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = u.search ? '?…' : '';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'upsfleet',
          ...headers,
        },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function wantsEvent(hook: WebhookSpec, event: string): boolean {
  return hook.events.length === 0 || hook.events.includes(event);
}

/** POSTs the payload to one webhook with retries. Never rejects. */
export async function sendWebhook(
  hook: WebhookSpec,
  payload: WebhookPayload,
  deps: WebhookDeps,
): Promise<WebhookResult> {
  const post = deps.post ?? postJson;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  const body = JSON.stringify(payload);
  const where = redactUrl(hook.url);
  let status: number | null = null;
  let error: string | null = null;
  let attempts = 0;
  while (attempts <= hook.retries) {
    attempts++;
    try {
      status = await post(hook.url, body, hook.headers, hook.timeoutMs);
      error = null;
      if (status >= 200 && status < 300) {
        deps.logger.debug({ url: where, event: payload.event, attempts, status }, 'webhook delivered');
        return { url: where, ok: true, attempts, status, error: null };
      }
      // a 4xx other than the "try later" ones will not get better
      if (status < 500 && !RETRYABLE.has(status)) break;
    } catch (err) {
      status = null;
      error = (err as Error).message;
    }
    if (attempts <= hook.retries) await sleep(hook.backoffMs * 2 ** (attempts - 1));
  }
  deps.logger.warn({ url: where, event: payload.event, attempts, status, error }, 'webhook failed');
  return { url: where, ok: false, attempts, status, error };
}

/** Sends to every webhook that wants the event, in parallel. Never rejects. */
export function sendWebhooks(
  hooks: readonly WebhookSpec[],
  payload: WebhookPayload,
  deps: WebhookDeps,
): Promise<WebhookResult[]> {
  return Promise.all(
    hooks.filter((h) => wantsEvent(h, payload.event)).map((h) => sendWebhook(h, payload, deps)),
  );
}
