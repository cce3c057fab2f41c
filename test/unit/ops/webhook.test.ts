/** Webhooks against a real HTTP server on loopback: JSON body, retries with doubling backoff, no retry on 4xx. */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sendWebhook, sendWebhooks, type WebhookSpec } from '../../../shared/exec/webhook.js';
import { silentLogger } from '../../../shared/logger.js';

describe('webhooks', () => {
  const answers: number[] = [];
  const received: Array<{
    body: Record<string, unknown>;
    auth: string | undefined;
    type: string | undefined;
  }> = [];
  let url = '';
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      received.push({
        body: JSON.parse(text) as Record<string, unknown>,
        auth: req.headers.authorization,
        type: req.headers['content-type'],
      });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?secret=x`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const hook = (over: Partial<WebhookSpec> = {}): WebhookSpec => ({
    url,
    headers: { authorization: 'Bearer s3cret' },
    events: [],
    retries: 3,
    timeoutMs: 2000,
    backoffMs: 100,
    ...over,
  });
  const payload = {
    event: 'ONBATT',
    message: 'on battery',
    ups: 'ups',
    source: { role: 'master' as const, id: 'm' },
    ts: 'now',
  };

  it('POSTs JSON with the headers and retries 5xx with doubling backoff', async () => {
    received.length = 0;
    answers.push(503, 500);
    const waits: number[] = [];
    const r = await sendWebhook(hook(), payload, {
      logger: silentLogger(),
      sleep: async (ms) => void waits.push(ms),
    });
    assert.equal(r.ok, true);
    assert.equal(r.attempts, 3);
    assert.deepEqual(waits, [100, 200]);
    assert.equal(received.length, 3);
    assert.equal(received[0]!.body.event, 'ONBATT');
    assert.equal(received[0]!.auth, 'Bearer s3cret');
    assert.equal(received[0]!.type, 'application/json');
    assert.ok(!r.url.includes('secret'), 'the query string is not reported');
  });

  it('gives up after the retries, and does not retry a 400', async () => {
    answers.push(500, 500, 500, 500);
    const failed = await sendWebhook(hook(), payload, { logger: silentLogger(), sleep: async () => {} });
    assert.deepEqual([failed.ok, failed.attempts, failed.status], [false, 4, 500]);
    answers.push(400);
    const refused = await sendWebhook(hook(), payload, { logger: silentLogger(), sleep: async () => {} });
    assert.deepEqual([refused.ok, refused.attempts, refused.status], [false, 1, 400]);
  });

  it('retries a connection error and never rejects', async () => {
    const r = await sendWebhook(hook({ url: 'http://127.0.0.1:1/', retries: 1 }), payload, {
      logger: silentLogger(),
      sleep: async () => {},
    });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 2);
    assert.ok(r.error);
  });

  it('sends only the events a webhook asks for', async () => {
    received.length = 0;
    const results = await sendWebhooks([hook({ events: ['LOWBATT'] }), hook()], payload, {
      logger: silentLogger(),
    });
    assert.equal(results.length, 1);
    assert.equal(received.length, 1);
  });
});
