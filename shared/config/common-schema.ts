/** Schema pieces both configs use. Durations are seconds (number) or strings such as "90s", "5m". */
import { Type } from '@sinclair/typebox';

export const Duration = Type.Union(
  [
    Type.Number({ minimum: 0 }),
    Type.String({ pattern: '^\\s*(\\d+(\\.\\d+)?|(\\d+(\\.\\d+)?(ms|s|m|h))+)\\s*$' }),
  ],
  { description: 'seconds, or a string like 500ms, 90s, 5m, 1h' },
);

export const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

/** A command: one string run by /bin/sh -c, or an argv array run directly. */
export const Command = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Array(Type.String(), { minItems: 1 }),
]);

export const Hook = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    run: Command,
    timeout: Type.Optional(Duration),
    /** Runs during a drill too (it must not disturb production). */
    drillSafe: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** The same vocabulary for the fleet's critical thresholds and for early groups' own triggers. */
export const Trigger = Type.Object(
  {
    chargeBelow: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    runtimeBelow: Type.Optional(Duration),
    onBatteryFor: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const Log = Type.Object(
  {
    level: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    file: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const Shutdown = Type.Object(
  {
    /** Power-off command; default per OS (Linux `systemctl poweroff`, macOS `shutdown -h now`, Windows `shutdown /s /t 0`). */
    command: Type.Optional(Command),
    /** Log and write a marker file instead of powering off. */
    dryRun: Type.Optional(Type.Boolean()),
    /** Where the dry-run marker is written (default: <stateDir>/<id>.poweroff). */
    marker: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const Webhook = Type.Object(
  {
    /** http(s) URL that receives a JSON POST per event. */
    url: Type.String({ pattern: '^https?://' }),
    /** Extra headers, e.g. Authorization (never logged). */
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
    /** Only these events (ONBATT, LOWBATT, SHUTDOWN, DRILL, PLANWARN, ...); default every event. */
    events: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Attempts after the first (default 3), with doubling backoff from `backoff` (default 1s). */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    backoff: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/** A notification service as one URL (docs/NOTIFY.md): ntfy://, slack://, discord://, telegram://, teams://, smtp(s)://. */
const ServiceUrl = Type.String({ pattern: '^[A-Za-z]+(\\+https?)?://\\S+$' });

export const NotifyUrl = Type.Union([
  ServiceUrl,
  Type.Object(
    {
      url: ServiceUrl,
      /** Only these events (ONBATT, LOWBATT, SHUTDOWN, DRILL, PLANWARN, ...); default every event. */
      events: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    },
    { additionalProperties: false },
  ),
]);

export const Notify = Type.Object(
  {
    /** Run on every event with UPSFLEET_* environment variables. */
    command: Type.Optional(Command),
    timeout: Type.Optional(Duration),
    /** JSON POSTs on every event, retried with backoff. */
    webhooks: Type.Optional(Type.Array(Webhook, { maxItems: 16 })),
    /** Ready-made messages for ntfy, Slack, Discord, Telegram, Teams and e-mail, queued and retried (docs/NOTIFY.md). */
    urls: Type.Optional(Type.Array(NotifyUrl, { maxItems: 16 })),
  },
  { additionalProperties: false },
);
