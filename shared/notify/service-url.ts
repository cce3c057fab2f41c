/**
 * Notification services configured as one URL each (docs/NOTIFY.md), in the spirit of shoutrrr and apprise:
 *   ntfy://[user:pass@|:token@]host/topic     JSON publish to https://host/ (ntfy.sh when host is omitted: ntfy:///topic)
 *   slack://T000/B000/XXXX                    Slack incoming webhook https://hooks.slack.com/services/T000/B000/XXXX
 *   discord://WEBHOOK_ID/TOKEN                Discord webhook https://discord.com/api/webhooks/ID/TOKEN
 *   telegram://BOT_TOKEN@CHAT_ID[?chats=A,B]   Telegram Bot API sendMessage
 *   teams://HOST/PATH?QUERY                   Microsoft Teams Workflows (or connector) webhook https://HOST/PATH?QUERY
 *   smtp://[user:pass@]host[:port]?from=..&to=a,b   e-mail (STARTTLS when offered; smtps:// for TLS from the start)
 * `<service>+https://host[:port]/...` (or `+http` on loopback / a private relay) posts to that server instead
 * of the service's public one, with the same path and payload: a self-hosted ntfy, a proxy, or a test
 * receiver. Parsing is pure: this module builds requests, it sends nothing.
 */
import { UpsfleetError } from '../errors.js';

export const SERVICES = ['ntfy', 'slack', 'discord', 'telegram', 'teams', 'smtp'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** What every service is told. */
export interface ServiceMessage {
  event: string;
  /** One line: `[upsfleet] ONBATT on ups`. */
  title: string;
  message: string;
  ups: string;
  /** Who sends: `master m1` or `agent web1 (group app)`. */
  source: string;
  ts: string;
}

/** The message every service gets for one event. */
export function serviceMessage(e: {
  event: string;
  message: string;
  ups: string;
  source: string;
  ts: number;
}): ServiceMessage {
  return {
    event: e.event,
    title: `upsfleet: ${e.event} on ${e.ups}`,
    message: e.message,
    ups: e.ups,
    source: e.source,
    ts: new Date(e.ts).toISOString(),
  };
}

export interface HttpDelivery {
  kind: 'http';
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface MailDelivery {
  kind: 'smtp';
  host: string;
  port: number;
  /** TLS from the first byte (smtps://); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  /** Refuse to send without STARTTLS (`?starttls=required`). */
  requireTLS: boolean;
  auth?: { user: string; pass: string };
  from: string;
  to: string[];
  subject: string;
  text: string;
}

export type Delivery = HttpDelivery | MailDelivery;

export interface ServiceTarget {
  service: ServiceName;
  /** The URL with every secret replaced by `***`: the only form that is ever logged. */
  redacted: string;
  /** Only these events (empty: every event). */
  events: string[];
  /** The requests that deliver one message (one per chat for Telegram, else one). */
  build(msg: ServiceMessage): Delivery[];
}

function invalid(where: string, why: string): never {
  throw new UpsfleetError('CONFIG_INVALID', `${where}: ${why}`);
}

/** Query keys that hold no secret (addresses and options); every other value is masked. */
const PLAIN_KEYS = new Set(['to', 'from', 'chats', 'priority', 'tags', 'starttls', 'api-version']);

/**
 * The URL as it may be logged: user info masked, query values masked but for addresses and options, and
 * path segments masked but for a first one that names nothing secret (`services`, `api`, `workflows`):
 * webhook ids, tokens and ntfy topics (on a public server a topic is its password) never show.
 */
export function redactServiceUrl(raw: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?/i.exec(raw.trim());
  if (!m) return '(invalid url)';
  const [, scheme, authority, path, query] = m;
  const service = scheme!.toLowerCase().split('+')[0];
  const base = scheme!.includes('+');
  const at = authority!.lastIndexOf('@');
  const host = at >= 0 ? `***@${authority!.slice(at + 1)}` : authority;
  // the first path segment is kept where it is a fixed word of the service's API
  const keepFirst = service !== 'ntfy' && (base || !['slack', 'discord'].includes(service ?? ''));
  let seen = 0;
  const masked = path!
    .split('/')
    .map((seg) => {
      if (seg === '') return seg;
      seen++;
      return seen === 1 && keepFirst ? seg : '***';
    })
    .join('/');
  const q = query
    ? `?${query
        .slice(1)
        .split('&')
        .map((kv) => {
          const k = kv.split('=')[0] ?? '';
          return PLAIN_KEYS.has(k) ? kv : `${k}=***`;
        })
        .join('&')}`
    : '';
  return `${scheme}://${host}${masked}${q}`;
}

interface Parsed {
  service: ServiceName;
  /** Explicit base (`+http`/`+https` form): protocol and host[:port]. */
  base: string | null;
  /** Decoded user info. */
  user: string;
  pass: string;
  /** What stands after the user info, as written (a host, or the first part of a webhook's path). */
  host: string;
  /** Path segments after it, decoded. */
  parts: string[];
  /** The path and query as written (for the +http(s) forms and Teams). */
  path: string;
  search: string;
  params: URLSearchParams;
}

function decode(s: string, where: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    invalid(where, 'bad %-escape');
  }
}

function parse(raw: string, where: string): Parsed {
  const m = /^([a-z]+)(?:\+(https?))?:\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(raw);
  if (!m)
    invalid(where, 'not a notification URL (ntfy://, slack://, discord://, telegram://, teams://, smtp://)');
  const service = m[1]!.toLowerCase();
  const over = m[2]?.toLowerCase();
  const known = service === 'smtps' ? 'smtp' : service;
  if (!(SERVICES as readonly string[]).includes(known))
    invalid(where, `unknown notification service "${service}" (${SERVICES.join(', ')})`);
  if (over && known === 'smtp') invalid(where, 'smtp takes no +http(s) base: use smtp:// or smtps://');
  const authority = m[3]!;
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : '';
  const colon = userinfo.indexOf(':');
  const host = at >= 0 ? authority.slice(at + 1) : authority;
  const path = m[4] ?? '';
  const search = m[5] ?? '';
  if (over && !/^(\[[0-9a-f:.]+\]|[\w.-]+)(:\d{1,5})?$/i.test(host))
    invalid(where, `"${host}" is not a host[:port]`);
  return {
    service: known as ServiceName,
    base: over ? `${over}://${host}` : null,
    user: decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, where),
    pass: decode(colon >= 0 ? userinfo.slice(colon + 1) : '', where),
    host: decode(host, where),
    parts: path
      .split('/')
      .filter(Boolean)
      .map((p) => decode(p, where)),
    path,
    search,
    params: new URLSearchParams(search),
  };
}

const json = (body: unknown): string => JSON.stringify(body);
const JSON_HEADERS = { 'content-type': 'application/json' };

function text(msg: ServiceMessage): string {
  return `${msg.message}\n${msg.source} · ${msg.ts}`;
}

/** ntfy priority per event: 5 for the fleet going down, 4 on battery, 3 otherwise. */
function ntfyPriority(event: string): number {
  if (['SHUTDOWN', 'FSD', 'LOWBATT', 'EARLY'].includes(event)) return 5;
  if (['ONBATT', 'COMMBAD', 'NOCOMM', 'PLANWARN', 'REPLBATT'].includes(event)) return 4;
  return 3;
}

function ntfy(p: Parsed, where: string): (msg: ServiceMessage) => HttpDelivery {
  const topic = p.parts.length === 1 ? p.parts[0]! : '';
  if (!topic) invalid(where, 'ntfy needs one topic: ntfy://host/topic');
  const host = p.host || 'ntfy.sh';
  const endpoint = p.base ? `${p.base}/` : `https://${host}/`;
  const { user, pass } = p;
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (user) headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  else if (pass) headers.authorization = `Bearer ${pass}`;
  const fixedPriority = p.params.get('priority');
  const tags = (p.params.get('tags') ?? '').split(',').filter(Boolean);
  return (msg) => ({
    kind: 'http',
    url: endpoint,
    headers,
    body: json({
      topic,
      title: msg.title,
      message: text(msg),
      priority: fixedPriority ? Number(fixedPriority) : ntfyPriority(msg.event),
      tags: [...tags, msg.event.toLowerCase()],
    }),
  });
}

function pathParts(p: Parsed): string[] {
  // in the public form the first part is what URL parsing took as the host
  return p.base ? p.parts : [p.host, ...p.parts].filter(Boolean);
}

function slack(p: Parsed, where: string): (msg: ServiceMessage) => HttpDelivery {
  let url: string;
  if (p.base) url = `${p.base}${p.path}`;
  else {
    const parts = pathParts(p);
    if (parts.length !== 3)
      invalid(where, 'slack needs the three parts of the webhook: slack://T000/B000/XXXX');
    url = `https://hooks.slack.com/services/${parts.join('/')}`;
  }
  return (msg) => ({
    kind: 'http',
    url,
    headers: { ...JSON_HEADERS },
    // incoming webhooks take `text` (mrkdwn); it is also the notification's fallback
    body: json({ text: `*${msg.title}*\n${text(msg)}` }),
  });
}

function discord(p: Parsed, where: string): (msg: ServiceMessage) => HttpDelivery {
  let url: string;
  if (p.base) url = `${p.base}${p.path}`;
  else {
    const parts = pathParts(p);
    if (parts.length !== 2) invalid(where, 'discord needs the webhook id and token: discord://ID/TOKEN');
    url = `https://discord.com/api/webhooks/${parts.join('/')}`;
  }
  return (msg) => ({
    kind: 'http',
    url,
    headers: { ...JSON_HEADERS },
    // content is limited to 2000 characters
    body: json({ username: 'upsfleet', content: `**${msg.title}**\n${text(msg)}`.slice(0, 2000) }),
  });
}

function telegram(p: Parsed, where: string): (msg: ServiceMessage) => HttpDelivery[] {
  // bot tokens are `123456:ABC...`: URL parsing splits them at the colon into user and password
  const token = [p.user, p.pass].filter(Boolean).join(':');
  if (!/^\d+:[\w-]+$/.test(token))
    invalid(where, 'telegram needs the bot token: telegram://123456:ABC...@CHAT_ID');
  const chats = (p.params.get('chats') ?? '').split(',').filter(Boolean);
  if (!p.base && p.host) chats.unshift(p.host);
  if (chats.length === 0) invalid(where, 'telegram needs a chat: telegram://TOKEN@CHAT_ID or ?chats=ID,ID');
  const api = p.base ?? 'https://api.telegram.org';
  return (msg) =>
    chats.map((chat) => ({
      kind: 'http',
      url: `${api}/bot${token}/sendMessage`,
      headers: { ...JSON_HEADERS },
      // text is limited to 4096 characters; plain text (no parse_mode): nothing to escape
      body: json({ chat_id: chat, text: `${msg.title}\n${text(msg)}`.slice(0, 4096) }),
    }));
}

function teams(p: Parsed, where: string): (msg: ServiceMessage) => HttpDelivery {
  if (!p.base && !p.host)
    invalid(where, 'teams needs the webhook URL without https: teams://HOST/PATH?QUERY');
  const url = `${p.base ?? `https://${p.host}`}${p.path}${p.search}`;
  return (msg) => ({
    kind: 'http',
    url,
    headers: { ...JSON_HEADERS },
    // a message with one Adaptive Card: what Workflows webhooks take (and connector webhooks too)
    body: json({
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
              { type: 'TextBlock', text: msg.title, weight: 'Bolder', size: 'Medium', wrap: true },
              { type: 'TextBlock', text: msg.message, wrap: true },
              {
                type: 'FactSet',
                facts: [
                  { title: 'Event', value: msg.event },
                  { title: 'UPS', value: msg.ups },
                  { title: 'From', value: msg.source },
                  { title: 'Time', value: msg.ts },
                ],
              },
            ],
          },
        },
      ],
    }),
  });
}

function smtp(raw: string, p: Parsed, where: string): (msg: ServiceMessage) => MailDelivery {
  const secure = /^smtps:/i.test(raw);
  const hp = /^(\[[0-9a-f:.]+\]|[\w.-]+)(?::(\d{1,5}))?$/i.exec(p.host);
  if (!hp) invalid(where, 'smtp needs the server: smtp://host[:port]?from=...&to=...');
  const from = p.params.get('from');
  const to = (p.params.get('to') ?? '').split(',').filter(Boolean);
  if (!from) invalid(where, 'smtp needs the sender: ?from=upsfleet@example.org');
  if (to.length === 0) invalid(where, 'smtp needs recipients: ?to=a@example.org,b@example.org');
  const starttls = p.params.get('starttls') ?? 'auto';
  if (!['auto', 'required'].includes(starttls)) invalid(where, 'starttls is auto (default) or required');
  const { user, pass } = p;
  const host = hp[1]!.replace(/^\[|\]$/g, '');
  const delivery = {
    kind: 'smtp' as const,
    host,
    port: hp[2] ? Number(hp[2]) : secure ? 465 : 587,
    secure,
    requireTLS: starttls === 'required',
    ...(user ? { auth: { user, pass } } : {}),
    from,
    to,
  };
  return (msg) => ({ ...delivery, subject: msg.title, text: `${text(msg)}\n` });
}

/** Parses one notification URL (or throws CONFIG_INVALID naming `where`). */
export function parseServiceUrl(raw: string, events: string[] = [], where = 'notify URL'): ServiceTarget {
  const p = parse(raw.trim(), where);
  const builders: Record<ServiceName, () => (msg: ServiceMessage) => Delivery | Delivery[]> = {
    ntfy: () => ntfy(p, where),
    slack: () => slack(p, where),
    discord: () => discord(p, where),
    telegram: () => telegram(p, where),
    teams: () => teams(p, where),
    smtp: () => smtp(raw.trim(), p, where),
  };
  const build = builders[p.service]();
  return {
    service: p.service,
    redacted: redactServiceUrl(raw),
    events: [...events],
    build: (msg) => [build(msg)].flat(),
  };
}
