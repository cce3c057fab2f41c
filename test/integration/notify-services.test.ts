/**
 * Notification URLs against receivers this test starts on 127.0.0.1 (port 0): each service gets the exact
 * request it documents (path, headers, JSON shape), e-mail goes through nodemailer to a small SMTP server
 * speaking the protocol, `upsfleet notify test` reports each target with its URL redacted, and the queue
 * never blocks its caller: a full queue drops the oldest (counted, logged), failures are retried with
 * backoff, permanent refusals are not.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { main } from '../../cli/dispatch.js';
import { MasterNotifier } from '../../master/notify/master-notifier.js';
import { ManualClock, systemClock } from '../../shared/clock.js';
import { resolveNotify } from '../../shared/config/webhooks.js';
import { silentLogger } from '../../shared/logger.js';
import { NotifyQueue } from '../../shared/notify/notify-queue.js';
import {
  parseServiceUrl,
  redactServiceUrl,
  type ServiceMessage,
  serviceMessage,
} from '../../shared/notify/service-url.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** An HTTP receiver: records every request; answers with `status()` (default 200). */
class Receiver {
  readonly requests: Received[] = [];
  status: (n: number) => number = () => 200;
  hold = false;
  private server: Server | null = null;
  private waiters: Array<() => void> = [];
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => {
        data += c.toString();
      });
      req.on('end', () => {
        this.requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: JSON.parse(data) as unknown,
        });
        for (const w of this.waiters.splice(0)) w();
        if (this.hold) return; // never answers: a service that hangs
        res.writeHead(this.status(this.requests.length), { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.base = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async next(count: number, timeoutMs = 5_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > until) throw new Error(`only ${this.requests.length} of ${count} requests arrived`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

interface Mail {
  ehlo: string;
  auth: string | null;
  from: string;
  to: string[];
  data: string;
}

/** A minimal SMTP server (RFC 5321: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT), no TLS offered. */
class SmtpReceiver {
  readonly mails: Mail[] = [];
  port = 0;
  /** Reply to RCPT TO (e.g. 550 to refuse a recipient). */
  rcptReply = '250 2.1.5 ok';
  private server = createTcpServer((s) => this.session(s));

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  private session(s: Socket): void {
    const mail: Mail = { ehlo: '', auth: null, from: '', to: [], data: '' };
    let inData = false;
    let buf = '';
    const say = (line: string) => s.write(`${line}\r\n`);
    say('220 test.local ESMTP');
    s.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          mail.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          this.mails.push({ ...mail, to: [...mail.to] });
          say('250 2.0.0 queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') {
          mail.ehlo = line.slice(5);
          s.write('250-test.local\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n');
        } else if (verb === 'AUTH') {
          mail.auth = Buffer.from(line.split(' ')[2] ?? '', 'base64').toString('utf8');
          say('235 2.7.0 authenticated');
        } else if (verb === 'MAIL') {
          mail.from = /<(.*)>/.exec(line)?.[1] ?? '';
          say('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          if (this.rcptReply.startsWith('250')) mail.to.push(/<(.*)>/.exec(line)?.[1] ?? '');
          say(this.rcptReply);
        } else if (verb === 'DATA') {
          inData = true;
          say('354 go ahead');
        } else if (verb === 'QUIT') {
          say('221 bye');
          s.end();
        } else if (verb === 'RSET' || verb === 'NOOP') {
          say('250 ok');
        } else say('502 5.5.2 not implemented');
      }
    });
    s.on('error', () => {});
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const MSG: ServiceMessage = serviceMessage({
  event: 'ONBATT',
  message: 'UPS ups on battery',
  ups: 'ups',
  source: 'master m1',
  ts: Date.UTC(2026, 0, 2, 3, 4, 5),
});
const TEXT = 'UPS ups on battery\nmaster m1 · 2026-01-02T03:04:05.000Z';

async function sendOne(url: string, msg: ServiceMessage = MSG): Promise<void> {
  const q = new NotifyQueue({ logger: silentLogger(), retries: 0 });
  q.enqueue([parseServiceUrl(url)], msg);
  assert.equal(await q.drain(5_000), true, 'not delivered in time');
  assert.equal(q.stats().failed, 0, `${url} failed`);
}

describe('notification URLs', () => {
  const http = new Receiver();
  const smtp = new SmtpReceiver();

  before(async () => {
    await http.start();
    await smtp.start();
  });
  after(async () => {
    await http.stop();
    await smtp.stop();
  });

  it('ntfy: a JSON publish to the server root with topic, title, message, priority, tags and the token', async () => {
    const n = http.requests.length;
    await sendOne(`ntfy+http://:tk_secret123@${http.base}/ups-alerts?tags=house`);
    const r = http.requests[n]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers.authorization, 'Bearer tk_secret123');
    assert.deepEqual(r.body, {
      topic: 'ups-alerts',
      title: 'upsfleet: ONBATT on ups',
      message: TEXT,
      priority: 4,
      tags: ['house', 'onbatt'],
    });
    // user and password: basic auth; the public form goes to https://HOST/
    const n2 = http.requests.length;
    await sendOne(`ntfy+http://phil:pa%24s@${http.base}/t2`);
    assert.equal(
      http.requests[n2]!.headers.authorization,
      `Basic ${Buffer.from('phil:pa$s').toString('base64')}`,
    );
    const d = parseServiceUrl('ntfy://ntfy.example.org/alerts').build(MSG)[0]!;
    assert.equal(d.kind === 'http' && d.url, 'https://ntfy.example.org/');
    const pub = parseServiceUrl('ntfy:///alerts').build(MSG)[0]!;
    assert.equal(pub.kind === 'http' && pub.url, 'https://ntfy.sh/');
  });

  it('Slack: an incoming-webhook POST of {text} to the hook path', async () => {
    const n = http.requests.length;
    await sendOne(`slack+http://${http.base}/services/T000/B000/XXXX`);
    const r = http.requests[n]!;
    assert.equal(r.path, '/services/T000/B000/XXXX');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(r.body, { text: `*upsfleet: ONBATT on ups*\n${TEXT}` });
    const d = parseServiceUrl('slack://T000/B000/XXXX').build(MSG)[0]!;
    assert.equal(d.kind === 'http' && d.url, 'https://hooks.slack.com/services/T000/B000/XXXX');
  });

  it('Discord: an execute-webhook POST of {username, content}, content within 2000 characters', async () => {
    const n = http.requests.length;
    await sendOne(`discord+http://${http.base}/api/webhooks/1234/tok-en`);
    const r = http.requests[n]!;
    assert.equal(r.path, '/api/webhooks/1234/tok-en');
    assert.deepEqual(r.body, { username: 'upsfleet', content: `**upsfleet: ONBATT on ups**\n${TEXT}` });
    const long = await (async () => {
      const k = http.requests.length;
      await sendOne(`discord+http://${http.base}/api/webhooks/1234/tok-en`, {
        ...MSG,
        message: 'x'.repeat(5000),
      });
      return http.requests[k]!.body as { content: string };
    })();
    assert.equal(long.content.length, 2000);
    const d = parseServiceUrl('discord://1234/tok-en').build(MSG)[0]!;
    assert.equal(d.kind === 'http' && d.url, 'https://discord.com/api/webhooks/1234/tok-en');
  });

  it('Telegram: sendMessage with {chat_id, text} to /bot<TOKEN>/, once per chat', async () => {
    const n = http.requests.length;
    await sendOne(`telegram+http://123456:ABC-def_9@${http.base}/?chats=-1001234,42`);
    const got = http.requests.slice(n);
    assert.deepEqual(
      got.map((r) => r.path),
      ['/bot123456:ABC-def_9/sendMessage', '/bot123456:ABC-def_9/sendMessage'],
    );
    assert.deepEqual(
      got.map((r) => r.body),
      [
        { chat_id: '-1001234', text: `upsfleet: ONBATT on ups\n${TEXT}` },
        { chat_id: '42', text: `upsfleet: ONBATT on ups\n${TEXT}` },
      ],
    );
    const d = parseServiceUrl('telegram://123456:ABC-def_9@-1001234').build(MSG)[0]!;
    assert.equal(d.kind === 'http' && d.url, 'https://api.telegram.org/bot123456:ABC-def_9/sendMessage');
    assert.equal(d.kind === 'http' && (JSON.parse(d.body) as { chat_id: string }).chat_id, '-1001234');
  });

  it('Teams: a message with one Adaptive Card attachment to the workflow URL, query kept', async () => {
    const n = http.requests.length;
    await sendOne(
      `teams+http://${http.base}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SeCrEt`,
    );
    const r = http.requests[n]!;
    assert.equal(
      r.path,
      '/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SeCrEt',
    );
    assert.deepEqual(r.body, {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.2',
            body: [
              {
                type: 'TextBlock',
                text: 'upsfleet: ONBATT on ups',
                weight: 'Bolder',
                size: 'Medium',
                wrap: true,
              },
              { type: 'TextBlock', text: 'UPS ups on battery', wrap: true },
              {
                type: 'FactSet',
                facts: [
                  { title: 'Event', value: 'ONBATT' },
                  { title: 'UPS', value: 'ups' },
                  { title: 'From', value: 'master m1' },
                  { title: 'Time', value: '2026-01-02T03:04:05.000Z' },
                ],
              },
            ],
          },
        },
      ],
    });
  });

  it('e-mail: SMTP through nodemailer with AUTH, sender, every recipient, subject and text', async () => {
    await sendOne(
      `smtp://ups%40example.org:p%40ss@127.0.0.1:${smtp.port}/?from=upsfleet@example.org&to=ops@example.org,oncall@example.org`,
    );
    const m = smtp.mails.at(-1)!;
    assert.equal(m.auth, '\u0000ups@example.org\u0000p@ss');
    assert.equal(m.from, 'upsfleet@example.org');
    assert.deepEqual(m.to, ['ops@example.org', 'oncall@example.org']);
    const [head, ...body] = m.data.split('\r\n\r\n');
    assert.match(head!, /^From: upsfleet@example\.org$/m);
    assert.match(head!, /^To: ops@example\.org, oncall@example\.org$/m);
    assert.match(head!, /^Subject: upsfleet: ONBATT on ups$/m);
    assert.match(head!, /^Content-Type: text\/plain; charset=utf-8$/im);
    const text = body.join('\r\n\r\n');
    assert.match(text, /UPS ups on battery/);
    assert.match(text, /master m1/);
  });

  it('e-mail: a refused recipient (5xx) is not retried', async () => {
    smtp.rcptReply = '550 5.1.1 no such user';
    try {
      const q = new NotifyQueue({ logger: silentLogger(), retries: 3, backoffMs: 10 });
      const before = smtp.mails.length;
      q.enqueue(
        [parseServiceUrl(`smtp://127.0.0.1:${smtp.port}?from=a@example.org&to=nobody@example.org`)],
        MSG,
      );
      assert.equal(await q.drain(5_000), true);
      assert.deepEqual({ failed: q.stats().failed, sent: q.stats().sent }, { failed: 1, sent: 0 });
      assert.equal(smtp.mails.length, before);
    } finally {
      smtp.rcptReply = '250 2.1.5 ok';
    }
  });

  it('refuses URLs it cannot use, naming where', () => {
    assert.throws(() => parseServiceUrl('gopher://x/y', [], '/notify/urls/0'), /\/notify\/urls\/0: unknown/);
    assert.throws(() => parseServiceUrl('slack://T000/B000', [], 'u'), /three parts/);
    assert.throws(() => parseServiceUrl('telegram://nottoken@42', [], 'u'), /bot token/);
    assert.throws(() => parseServiceUrl('smtp://mail.example.org?to=a@b', [], 'u'), /sender/);
    assert.throws(
      () => resolveNotify({ urls: ['ntfy://h/t', { url: 'discord://only-id' }] }),
      /\/notify\/urls\/1\/url: discord needs/,
    );
  });

  it('redacts tokens, passwords and webhook paths in what it logs', () => {
    for (const [raw, shown] of [
      ['ntfy://:tk_secret@ntfy.example.org/alerts', 'ntfy://***@ntfy.example.org/***'],
      ['slack://T000/B000/XXXX', 'slack://T000/***/***'],
      ['discord://1234/tok-en', 'discord://1234/***'],
      ['telegram://123456:ABC@-100', 'telegram://***@-100'],
      [
        'teams://x.logic.azure.com/workflows/abc/invoke?api-version=1&sig=SeCrEt',
        'teams://x.logic.azure.com/workflows/***/***?api-version=1&sig=***',
      ],
      ['smtp://u:p@mail.example.org:587?from=a@b&to=c@d', 'smtp://***@mail.example.org:587?from=a@b&to=c@d'],
    ] as const) {
      assert.equal(redactServiceUrl(raw), shown);
      assert.equal(parseServiceUrl(raw).redacted, shown);
    }
  });

  it('never blocks the caller; a full queue drops the oldest with a counter and a log line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    );
    http.hold = true; // the service takes the request and never answers
    try {
      const q = new NotifyQueue({ logger, capacity: 3, retries: 0, timeoutMs: 60_000 });
      const target = parseServiceUrl(`slack+http://${http.base}/services/T/B/SECRETPART`);
      const n = http.requests.length;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 10; i++) q.enqueue([target], { ...MSG, message: `m${i}` });
      const tookMs = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.ok(tookMs < 50, `enqueue took ${tookMs} ms`);
      // 4 workers took m0..m3, m4..m6 were dropped for m7..m9
      assert.deepEqual(q.stats(), { queued: 3, inFlight: 4, retrying: 0, sent: 0, failed: 0, dropped: 3 });
      await http.next(n + 4);
      const dropLines = lines.filter(
        (l) => l.msg === 'notification queue full: the oldest message was dropped',
      );
      assert.equal(dropLines.length, 3);
      assert.equal(dropLines[2]!.dropped, 3);
      assert.equal(dropLines[0]!.url, `slack+http://${http.base}/services/***/***/***`);
      assert.ok(!JSON.stringify(lines).includes('SECRETPART'), 'a log line holds the secret');
      q.stop();
    } finally {
      http.hold = false;
      // the held requests are cut: a fresh receiver for the next tests
      await http.stop();
      await http.start();
    }
  });

  it('retries a failing service with a doubling backoff (fake clock), and gives up on a 4xx', async () => {
    const clock = new ManualClock();
    const first = http.requests.length;
    http.status = (i) => (i - first <= 2 ? 503 : 200);
    try {
      const q = new NotifyQueue({ logger: silentLogger(), clock, retries: 3, backoffMs: 1_000 });
      q.enqueue([parseServiceUrl(`slack+http://${http.base}/services/T/B/X`)], MSG);
      await http.next(first + 1);
      await waitStats(q, (s) => s.retrying === 1);
      clock.advance(999);
      assert.equal(http.requests.length, first + 1, 'retried before its backoff');
      clock.advance(1);
      await http.next(first + 2);
      await waitStats(q, (s) => s.retrying === 1);
      clock.advance(1_999);
      assert.equal(http.requests.length, first + 2, 'the second backoff doubles');
      clock.advance(1);
      await http.next(first + 3);
      await waitStats(q, (s) => s.sent === 1);
      assert.deepEqual(q.stats(), { queued: 0, inFlight: 0, retrying: 0, sent: 1, failed: 0, dropped: 0 });

      http.status = () => 404;
      const before = http.requests.length;
      q.enqueue([parseServiceUrl(`slack+http://${http.base}/services/T/B/X`)], MSG);
      await waitStats(q, (s) => s.failed === 1);
      assert.equal(http.requests.length, before + 1, 'a 404 is not retried');
    } finally {
      http.status = () => 200;
    }
  });

  it('only the events a URL asks for', async () => {
    const n = http.requests.length;
    const [t] = resolveNotify({
      urls: [{ url: `slack+http://${http.base}/services/T/B/X`, events: ['SHUTDOWN'] }],
    }).services;
    const q = new NotifyQueue({ logger: silentLogger() });
    q.enqueue([t!], MSG);
    q.enqueue(
      [t!],
      serviceMessage({ event: 'SHUTDOWN', message: 'going down', ups: 'ups', source: 'master m1', ts: 0 }),
    );
    await q.drain(5_000);
    assert.equal(http.requests.length, n + 1);
    assert.match(
      (http.requests[n]!.body as { text: string }).text,
      /^\*upsfleet: SHUTDOWN on ups\*\ngoing down/,
    );
  });

  it("the master's notifier sends power events to notify.urls", async () => {
    const n = http.requests.length;
    const notifier = new MasterNotifier({
      masterId: 'm1',
      ups: 'ups',
      notify: resolveNotify({ urls: [`ntfy+http://${http.base}/fleet`] }),
      vars: () => ({ 'ups.status': 'OB' }),
      clock: systemClock,
      logger: silentLogger(),
    });
    notifier.notify('ONBATT', 'UPS ups on battery');
    await http.next(n + 1);
    const body = http.requests[n]!.body as { topic: string; title: string; message: string };
    assert.equal(body.topic, 'fleet');
    assert.equal(body.title, 'upsfleet: ONBATT on ups');
    assert.match(body.message, /^UPS ups on battery\nmaster m1 · /);
    await notifier.stop();
  });

  it('`upsfleet notify test` sends through every URL of a config and the command line, redacted', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'upsfleet-notify-'));
    try {
      const cfg = join(dir, 'agent.yaml');
      writeFileSync(
        cfg,
        `agent:\n  id: web1\n  group: app\n  token: t0k3n-t0k3n-t0k3n-t0k3n\nmaster:\n  urls: ['wss://127.0.0.1:1/ws']\n  fingerprint: 'sha256:${'ab'.repeat(32)}'\nnotify:\n  urls:\n    - ntfy+http://:tk_hidden@${http.base}/from-config\n`,
      );
      const n = http.requests.length;
      let out = '';
      let err = '';
      const io = {
        stdout: (t: string) => {
          out += t;
        },
        stderr: (t: string) => {
          err += t;
        },
      };
      const code = await main(
        [
          'notify',
          'test',
          '--config',
          cfg,
          `discord+http://${http.base}/api/webhooks/1/hidden-token`,
          `smtp://127.0.0.1:${smtp.port}?from=a@example.org&to=b@example.org`,
          'slack+http://127.0.0.1:1/services/T/B/X',
        ],
        io,
      );
      assert.equal(code, 1, `${out}${err}`);
      assert.match(out, /^ok {4}ntfy {5}ntfy\+http:\/\/\*\*\*@127\.0\.0\.1:\d+\/\*\*\* \(\d+ ms\)$/m);
      assert.match(
        out,
        /^ok {4}discord {2}discord\+http:\/\/127\.0\.0\.1:\d+\/api\/\*\*\*\/\*\*\*\/\*\*\* /m,
      );
      assert.match(out, /^ok {4}smtp /m);
      assert.match(
        out,
        /^FAIL {2}slack {4}slack\+http:\/\/127\.0\.0\.1:1\/services\/\*\*\*\/\*\*\*\/\*\*\*: /m,
      );
      assert.match(out, /^3 of 4 sent$/m);
      assert.ok(!out.includes('tk_hidden') && !out.includes('hidden-token'), out);
      const sent = http.requests.slice(n).map((r) => r.body as Record<string, string>);
      assert.equal(sent[0]!.topic, 'from-config');
      assert.match(String(sent[0]!.message), /agent web1 \(group app\)/);
      assert.equal(sent[0]!.title, 'upsfleet: TEST on ups');
      assert.match(smtp.mails.at(-1)!.data, /Subject: upsfleet: TEST on ups/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function waitStats(
  q: NotifyQueue,
  ok: (s: ReturnType<NotifyQueue['stats']>) => boolean,
  timeoutMs = 5_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok(q.stats())) {
    if (Date.now() > until) throw new Error(`queue stats never matched: ${JSON.stringify(q.stats())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
