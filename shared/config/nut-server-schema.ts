/**
 * The `nut:` section of the master config: the NUT-compatible server (upsd protocol) for stock NUT clients.
 * Off unless present.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Name } from './common-schema.js';

export const NutUser = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    /** sha256:<hex> of the password (plain `password` is accepted for compatibility with upsd.users habits). */
    passwordHash: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$' })),
    password: Type.Optional(Type.String({ minLength: 1 })),
    upsmon: Type.Optional(Type.Union([Type.Literal('primary'), Type.Literal('secondary')])),
    actions: Type.Optional(Type.Array(Type.Union([Type.Literal('set'), Type.Literal('fsd')]))),
    instcmds: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** The upsfleet group this client belongs to: it sees FSD when that group's step comes. */
    group: Type.Optional(Name),
  },
  { additionalProperties: false },
);

export const NutServerConfig = Type.Object(
  {
    /** host:port, e.g. "0.0.0.0:3493". */
    listen: Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):\\d{1,5}$' }),
    users: Type.Optional(Type.Array(NutUser)),
    /** Seconds of silence after which a client is dropped (upsd: 60). */
    idleTimeout: Type.Optional(Type.Union([Type.Number({ minimum: 1 }), Type.String()])),
    maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * Accept USERNAME/PASSWORD in clear from other hosts (default false: off loopback a client must
     * STARTTLS first, as upsmon does by itself when the server offers it). For NUT clients that cannot do
     * TLS (many NAS boxes) on a network you trust; the master warns at start while it is on. Needed for a
     * NUT port off loopback on a master without TLS.
     */
    allowPlaintextLogin: Type.Optional(Type.Boolean()),
    /** Connections one client address may hold at once (default: a quarter of maxConnections, at most 32). */
    maxConnectionsPerAddress: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * Hide `LB` from clients whose user has a `group` until that group's step comes (default true).
     * A upsmon secondary seeing `OB LB` for longer than its HOSTSYNC shuts down on its own; holding LB
     * back keeps it in the planned order. Clients without a group and anonymous readers see the truth.
     */
    hideLowBattery: Type.Optional(Type.Boolean()),
    /**
     * Other names under which clients may address the UPS (QNAP insists on `qnapups`, Synology on `ups`).
     * LIST UPS shows only the master's UPS name.
     */
    upsAliases: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }))),
  },
  { additionalProperties: false },
);

export type NutServerConfigT = Static<typeof NutServerConfig>;
export type NutUserT = Static<typeof NutUser>;
