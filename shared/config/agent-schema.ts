/** The agent's configuration file (YAML). Types are derived from this schema. */
import { type Static, Type } from '@sinclair/typebox';
import { Duration, Log, Name, Notify, Shutdown } from './common-schema.js';
import { AgentHook } from './guest-schema.js';

/** How the agent reaches one master: its URLs (fail-overs of that one master) or mDNS, and how it is trusted. */
export const MasterLink = Type.Object(
  {
    /** wss:// URLs of the master(s), tried in turn (ws:// only to a loopback address). Or `auto`. */
    urls: Type.Optional(Type.Array(Type.String({ pattern: '^wss?://' }), { minItems: 1 })),
    /** Find the master over mDNS/DNS-SD (`_upsfleet._tcp`); connect only if its certificate matches the pin. */
    auto: Type.Optional(Type.Boolean()),
    /** SHA-256 fingerprint(s) of the master's certificate, as `upsfleet keygen` prints it (a list during a key rotation). */
    fingerprint: Type.Optional(
      Type.Union([
        Type.String({ minLength: 1 }),
        Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 8 }),
      ]),
    ),
    /** PEM CA bundle that must have signed the master's certificate (instead of, or with, a fingerprint). */
    ca: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** One UPS feeding this host, through its master. */
export const Supply = Type.Object(
  {
    /** A name for logs and the state directory (default supply-1, supply-2, ...). */
    name: Type.Optional(Name),
    master: MasterLink,
    /** How many of this host's power supplies this UPS feeds (NUT's POWERVALUE); 0: monitor only. Default 1. */
    powerValue: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })),
    /** This master's own token for the agent (default: agent.token / agent.tokenFile). */
    token: Type.Optional(Type.String({ minLength: 8 })),
    tokenFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const AgentConfigSchema = Type.Object(
  {
    agent: Type.Object(
      {
        id: Name,
        group: Name,
        token: Type.Optional(Type.String({ minLength: 8 })),
        /** Read the token from this file instead (kept out of the config, mode 0600). */
        tokenFile: Type.Optional(Type.String({ minLength: 1 })),
        stateDir: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    /** The master of the one UPS that feeds this host (its `urls` are fail-overs of that one master). */
    master: Type.Optional(MasterLink),
    /**
     * Several UPSes feed this host (dual power supplies), each with its own master: the agent follows them
     * all at once and goes down when the supplies it still trusts fall below `minSupplies` (NUT's
     * POWERVALUE / MINSUPPLIES). Give either `master` or `supplies`.
     */
    supplies: Type.Optional(Type.Array(Supply, { minItems: 1, maxItems: 8 })),
    /** How many power supplies must stay fed for this host to keep running (default 1; only with `supplies`). */
    minSupplies: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    /** Master unreachable this long while last seen on battery: shut down on our own. */
    deadtime: Type.Optional(Duration),
    reconnect: Type.Optional(
      Type.Object(
        { initial: Type.Optional(Duration), max: Type.Optional(Duration) },
        { additionalProperties: false },
      ),
    ),
    shutdown: Type.Optional(Shutdown),
    /** Commands (`run:`) and guest presets (`preset:`, docs/GUESTS.md), in order. */
    hooks: Type.Optional(Type.Array(AgentHook)),
    notify: Type.Optional(Notify),
    log: Type.Optional(Log),
  },
  { additionalProperties: false },
);

export type AgentConfigFile = Static<typeof AgentConfigSchema>;
export type MasterLinkConfig = Static<typeof MasterLink>;
export type SupplyConfig = Static<typeof Supply>;
