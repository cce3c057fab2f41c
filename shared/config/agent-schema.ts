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
        /** ws:// or wss:// URLs of the master(s), tried in turn. */
        urls: Type.Array(Type.String({ pattern: '^wss?://' }), { minItems: 1 }),
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
