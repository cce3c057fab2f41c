/**
 * The master <-> agent protocol: every message as a TypeBox schema, the single source of truth.
 * TypeScript types are derived with Static<>; ajv compiles the same objects (shared/protocol/codec.ts).
 * Envelope: { v: 1, type, id, ts, ...body }.
 */
import { type Static, type TObject, type TProperties, Type } from '@sinclair/typebox';
import { POWER_EVENTS } from '../nut/events.js';

export const PROTOCOL_VERSION = 1;
/** Largest message either side accepts, in bytes. A full state snapshot is a few KiB. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const Id = Type.String({ minLength: 1, maxLength: 128 });
const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

function envelope<T extends string, P extends TProperties>(type: T, body: P) {
  return Type.Object(
    {
      v: Type.Literal(PROTOCOL_VERSION),
      type: Type.Literal(type),
      id: Id,
      /** The sender's clock (epoch ms): for logs and the measured skew only, never checked against the receiver's. */
      ts: Type.Integer({ minimum: 0 }),
      /**
       * Per-connection message number, from 1, growing by one (shared/protocol/replay-guard.ts). Sent only to or
       * by a peer that agreed to it: an agent announcing the `seq` capability, once a welcome gave it a `sid`.
       */
      seq: Type.Optional(Type.Integer({ minimum: 1 })),
      /** The connection's session id: in the welcome (to a `seq` agent), then in each of that agent's messages. */
      sid: Type.Optional(Type.String({ minLength: 8, maxLength: 64 })),
      ...body,
    },
    { additionalProperties: false },
  );
}

/**
 * Most variables one state (or one delta) carries. A real UPS exposes 30 to 150 (`upsc`); the bound keeps
 * a peer's message, and the picture an agent builds from deltas, from growing without end.
 */
export const MAX_STATE_VARS = 512;
const VarName = Type.String({ maxLength: 128 });
const UpsVarsSchema = Type.Record(VarName, Type.String({ maxLength: 1024 }), {
  maxProperties: MAX_STATE_VARS,
});

export const PolicyView = Type.Object(
  {
    critical: Type.Boolean(),
    reason: Type.Union([Type.String(), Type.Null()]),
    onBatterySince: Type.Union([Type.Integer(), Type.Null()]),
    communicating: Type.Boolean(),
  },
  { additionalProperties: false },
);

// ---- master -> agent ----
export const Welcome = envelope('welcome', {
  masterId: Name,
  ups: Type.Array(Name),
  group: Name,
  /** 1-based step of this agent's group in the fleet sequence, or null for an early group. */
  step: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  steps: Type.Integer({ minimum: 0 }),
  pingIntervalMs: Type.Integer({ minimum: 100 }),
  /**
   * How much longer than its own deadtime this agent waits before shutting down on its own when the master
   * is lost while on battery: (step - 1) × the master's lostMasterSpacing, 0 for an early group. It keeps a
   * dead master from turning the ordered shutdown into everyone at once. Optional: older masters omit it.
   */
  lostMasterDelayMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /**
   * The window over which this agent spreads its first reconnect when it loses this master, sized by the
   * master from its fleet (a restart must not bring every agent back in the same second). Only to agents
   * announcing RECONNECT_WINDOW_CAPABILITY (an older agent refuses unknown welcome fields).
   */
  reconnectWindowMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  /** This master takes per-guest progress: only to agents announcing GUEST_PROGRESS_CAPABILITY. */
  guestProgress: Type.Optional(Type.Literal(true)),
});

/** Hello capability: this agent understands `reconnectWindowMs` in the welcome. */
export const RECONNECT_WINDOW_CAPABILITY = 'reconnect-window';

/**
 * Hello capability: this agent's guest presets report each guest (progress `guest`, drill-report
 * `guests`). A master that understands them says so in its welcome (`guestProgress`); an older one
 * gets neither field (it would refuse them) and sees only the preset's hook progress.
 */
export const GUEST_PROGRESS_CAPABILITY = 'guest-progress';

export const State = envelope('state', {
  ups: Name,
  vars: UpsVarsSchema,
  stale: Type.Boolean(),
  policy: PolicyView,
  /**
   * The state's revision (see StateDelta): only to agents announcing STATE_DELTA_CAPABILITY, whose next
   * `state-delta` has this as its `base`. An older agent refuses unknown fields and gets none.
   */
  rev: Type.Optional(Type.Integer({ minimum: 0 })),
});

/**
 * Hello capability: this agent applies `state-delta` messages and asks for a full state (`resync`) when
 * one does not follow the revision it holds. It gets one full `state` (with `rev`) after the welcome and
 * after a resync, deltas otherwise; an agent without it gets every state in full, as before.
 */
export const STATE_DELTA_CAPABILITY = 'state-delta';

/**
 * What changed since the state of revision `base`: variables set (changed or new), variable names removed,
 * and `stale` / `policy` only when they changed. Revisions count the master's state broadcasts over its run
 * (one number for every agent, so one frame serves them all; the envelope's `seq` is per connection and
 * would not do), so an agent holding revision `base` of this UPS gets exactly revision `rev` by applying
 * it (shared/protocol/state-delta.ts); any other agent has missed something and asks for a resync.
 */
export const StateDelta = envelope('state-delta', {
  ups: Name,
  rev: Type.Integer({ minimum: 1 }),
  base: Type.Integer({ minimum: 0 }),
  set: Type.Optional(UpsVarsSchema),
  unset: Type.Optional(Type.Array(VarName, { maxItems: MAX_STATE_VARS })),
  stale: Type.Optional(Type.Boolean()),
  policy: Type.Optional(PolicyView),
});

export const Event = envelope('event', {
  ups: Name,
  event: Type.Union(POWER_EVENTS.map((e) => Type.Literal(e))),
  message: Type.String({ maxLength: 512 }),
});

export const Order = envelope('order', {
  orderId: Id,
  action: Type.Literal('shutdown'),
  reason: Type.String({ maxLength: 512 }),
  /** Epoch ms (the master's clock) by which the master stops waiting for this agent. */
  deadline: Type.Integer({ minimum: 0 }),
  /**
   * The same deadline as a duration from the moment the master sent the order, so that an agent whose clock
   * is off still knows how long it has. Only to agents announcing the `relative-deadline` capability.
   */
  deadlineInMs: Type.Optional(Type.Integer({ minimum: 0 })),
  step: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  drill: Type.Boolean(),
});

export const Ping = envelope('ping', {});

// ---- agent -> master ----
/**
 * What a host fed by several UPSes (one master each) tells each of its masters (NUT's POWERVALUE and
 * MINSUPPLIES): how many of its supplies this master's UPS feeds, how many it needs, how many it has,
 * and how much power it still trusts from the *other* supplies. A master orders it down only when the
 * others alone are below minSupplies; otherwise the host is redundantly fed and stays up.
 */
export const SupplyDeclaration = Type.Object(
  {
    /** Supplies this master's UPS feeds (0: the host only monitors it). */
    powerValue: Type.Integer({ minimum: 0, maximum: 64 }),
    minSupplies: Type.Integer({ minimum: 1, maximum: 64 }),
    /** The power value of every supply of the host, added up. */
    total: Type.Integer({ minimum: 0, maximum: 1024 }),
    /** The power value of the other supplies the host still trusts (not critical, not lost on battery). */
    others: Type.Integer({ minimum: 0, maximum: 1024 }),
  },
  { additionalProperties: false },
);

export const Hello = envelope('hello', {
  agentId: Name,
  group: Name,
  version: Type.String({ maxLength: 64 }),
  capabilities: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
  token: Type.String({ minLength: 8, maxLength: 256 }),
  dryRun: Type.Boolean(),
  hostname: Type.Optional(Type.String({ maxLength: 255 })),
  /** Only from a host fed by several UPSes (agent `supplies:`); absent otherwise. */
  supplies: Type.Optional(SupplyDeclaration),
});

export const Ack = envelope('ack', { orderId: Id });

/** One guest of a guest preset (shared/guests/stop-guests.ts GuestState). */
export const GuestNews = Type.Object(
  {
    name: Type.String({ maxLength: 128 }),
    kind: Type.String({ maxLength: 16 }),
    state: Type.Union(
      [
        'stopping',
        'stopped',
        'forced',
        'failed',
        'would-stop',
        'started',
        'already-running',
        'start-failed',
      ].map((s) => Type.Literal(s)),
    ),
    durationMs: Type.Optional(Type.Integer({ minimum: 0 })),
    error: Type.Optional(Type.String({ maxLength: 300 })),
  },
  { additionalProperties: false },
);

export const Progress = envelope('progress', {
  orderId: Id,
  hook: Type.Integer({ minimum: 0 }),
  of: Type.Integer({ minimum: 0 }),
  name: Type.String({ maxLength: 128 }),
  status: Type.Union([
    Type.Literal('started'),
    Type.Literal('ok'),
    Type.Literal('failed'),
    Type.Literal('skipped'),
  ]),
  durationMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** A guest preset's news about one guest (the hook is still running). Only to a `guestProgress` master. */
  guest: Type.Optional(GuestNews),
});

export const GoingDown = envelope('going-down', {
  orderId: Id,
  dryRun: Type.Boolean(),
  hookFailures: Type.Integer({ minimum: 0 }),
});

export const DrillReport = envelope('drill-report', {
  orderId: Id,
  hooks: Type.Array(
    Type.Object(
      {
        name: Type.String({ maxLength: 128 }),
        status: Type.String({ maxLength: 16 }),
        durationMs: Type.Integer({ minimum: 0 }),
        /** A guest preset: what it would stop. Only to a `guestProgress` master. */
        guests: Type.Optional(Type.Array(GuestNews, { maxItems: 64 })),
      },
      { additionalProperties: false },
    ),
    { maxItems: 64 },
  ),
});

export const Pong = envelope('pong', {});

/**
 * A `state-delta` did not follow the revision this agent holds of that UPS (`have`; null: none): the
 * master answers with a full `state`. Only from an agent that announced STATE_DELTA_CAPABILITY.
 */
export const Resync = envelope('resync', {
  ups: Name,
  have: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
});

/** The host's count of trusted supplies changed (sent only to a master that accepted a hello with `supplies`). */
export const Supplies = envelope('supplies', { supplies: SupplyDeclaration });

/**
 * The host will not go down at this order: without this master's supply it still has minSupplies
 * (redundantly fed). Sent only to a master that accepted a hello with `supplies`; an older master gets no
 * answer and sees the order cut short at its deadline.
 */
export const Decline = envelope('decline', {
  orderId: Id,
  reason: Type.String({ maxLength: 512 }),
  supplies: SupplyDeclaration,
});

export const MasterMessage = Type.Union([Welcome, State, StateDelta, Event, Order, Ping]);
export const AgentMessage = Type.Union([
  Hello,
  Ack,
  Progress,
  GoingDown,
  DrillReport,
  Pong,
  Supplies,
  Decline,
  Resync,
]);

export type WelcomeMsg = Static<typeof Welcome>;
export type StateMsg = Static<typeof State>;
export type StateDeltaMsg = Static<typeof StateDelta>;
export type ResyncMsg = Static<typeof Resync>;
export type EventMsg = Static<typeof Event>;
export type OrderMsg = Static<typeof Order>;
export type PingMsg = Static<typeof Ping>;
export type HelloMsg = Static<typeof Hello>;
export type AckMsg = Static<typeof Ack>;
export type ProgressMsg = Static<typeof Progress>;
export type GoingDownMsg = Static<typeof GoingDown>;
export type DrillReportMsg = Static<typeof DrillReport>;
export type PongMsg = Static<typeof Pong>;
export type SuppliesMsg = Static<typeof Supplies>;
export type DeclineMsg = Static<typeof Decline>;
export type SupplyDeclarationT = Static<typeof SupplyDeclaration>;
export type GuestNewsT = Static<typeof GuestNews>;
export type MasterMsg = Static<typeof MasterMessage>;
export type AgentMsg = Static<typeof AgentMessage>;
export type PolicyViewT = Static<typeof PolicyView>;

export const MASTER_SCHEMAS: Record<MasterMsg['type'], TObject> = {
  welcome: Welcome,
  state: State,
  'state-delta': StateDelta,
  event: Event,
  order: Order,
  ping: Ping,
};

export const AGENT_SCHEMAS: Record<AgentMsg['type'], TObject> = {
  hello: Hello,
  ack: Ack,
  progress: Progress,
  'going-down': GoingDown,
  'drill-report': DrillReport,
  pong: Pong,
  supplies: Supplies,
  decline: Decline,
  resync: Resync,
};

/** WebSocket close codes (4xxx are the application's). */
export const CloseCodes = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  MALFORMED: 4000,
  TOO_LARGE: 4001,
  UNKNOWN_TYPE: 4002,
  INVALID: 4003,
  VERSION: 4004,
  UNEXPECTED: 4005,
  REPLAY: 4006,
  STALE: 4007,
  AUTH_FAILED: 4010,
  AUTH_FORBIDDEN: 4011,
  AUTH_TIMEOUT: 4012,
  REPLACED: 4020,
  PING_TIMEOUT: 4021,
  MASTER_STOPPING: 4030,
} as const;
