/** The agent's configuration file (YAML). Types are derived from this schema. */
import { type Static, Type } from '@sinclair/typebox';
import { Duration, Hook, Log, Name, Notify, Shutdown } from './common-schema.js';

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
    master: Type.Object(
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
    ),
    /** Master unreachable this long while last seen on battery: shut down on our own. */
    deadtime: Type.Optional(Duration),
    reconnect: Type.Optional(
      Type.Object(
        { initial: Type.Optional(Duration), max: Type.Optional(Duration) },
        { additionalProperties: false },
      ),
    ),
    shutdown: Type.Optional(Shutdown),
    hooks: Type.Optional(Type.Array(Hook)),
    notify: Type.Optional(Notify),
    log: Type.Optional(Log),
  },
  { additionalProperties: false },
);

export type AgentConfigFile = Static<typeof AgentConfigSchema>;
