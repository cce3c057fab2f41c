/** The master's configuration file (YAML). Types are derived from this schema. */
import { type Static, Type } from '@sinclair/typebox';
import { MAC_PATTERN } from '../net/mac.js';
import { Command, Duration, Hook, Log, Name, Notify, Shutdown, Trigger } from './common-schema.js';
import { NutServerConfig } from './nut-server-schema.js';
import { SshTarget } from './ssh-target-schema.js';

const TokenHash = Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'sha256:<hex> of the token' });

export const SimulatedSourceConfig = Type.Object(
  {
    type: Type.Literal('simulated'),
    /** A `.seq`-style timeline file (`name: value` lines, `TIMER <seconds>`), relative to the config file. */
    timeline: Type.Optional(Type.String({ minLength: 1 })),
    /** The same timeline inline. */
    script: Type.Optional(Type.String()),
    /** Replay the timeline forever (dummy-ups' dummy-loop); default false: play once, keep the last state. */
    loop: Type.Optional(Type.Boolean()),
    /** Variables before the timeline starts. */
    initial: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Seconds in the timeline are divided by this (a demo plays a 10-minute outage in seconds). */
    speed: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * Keep the UPS's state across restarts of the master, as a real UPS does: variables, timeline position
     * and the end of the current TIMER in <stateDir>/simulated-ups.json, accepted instant commands appended
     * to <stateDir>/simulated-ups.commands.jsonl. Default false: every start plays the timeline from zero.
     */
    persist: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UsbhidSourceConfig = Type.Object(
  {
    type: Type.Literal('usbhid'),
    vendorId: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{4}$' })),
    productId: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{4}$' })),
    serial: Type.Optional(Type.String()),
    path: Type.Optional(Type.String()),
    pollInterval: Type.Optional(Duration),
    fullPollInterval: Type.Optional(Duration),
    ignoreLowBattery: Type.Optional(Type.Boolean()),
    override: Type.Optional(
      Type.Object(
        {
          'battery.charge.low': Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
          'battery.runtime.low': Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const NutSourceConfig = Type.Object(
  {
    type: Type.Literal('nut'),
    host: Type.String({ minLength: 1 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    ups: Type.String({ minLength: 1 }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    pollInterval: Type.Optional(Duration),
    pollIntervalOnBattery: Type.Optional(Duration),
    starttls: Type.Optional(Type.Boolean()),
    /** PEM CA bundle that must have signed upsd's certificate (with starttls); default the system CAs. */
    ca: Type.Optional(Type.String()),
    /** Name expected in upsd's certificate (like upsmon's CERTHOST); default the host. */
    certName: Type.Optional(Type.String({ minLength: 1 })),
    /** LOGIN to the UPS (counted by upsd's NUMLOGINS, so an upstream primary waits for the master); default: when a username is given. */
    login: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const SourceConfig = Type.Union([SimulatedSourceConfig, UsbhidSourceConfig, NutSourceConfig]);

export const SequenceStep = Type.Object(
  {
    groups: Type.Array(Name, { minItems: 1 }),
    /** How long the master waits for this step's agents before it moves on. */
    deadline: Type.Optional(Duration),
    /** Extra wait after the last confirmation (disks flush, VMs stop). */
    settle: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/**
 * Waking the hosts of an early group when mains return before the fleet sequence started (docs/WAKE.md):
 * Wake-on-LAN and/or a command per host, once mains have been back for `afterOnline` and the battery holds
 * `minCharge`. After the fleet sequence started, killpower's power cycle brings every host back instead.
 */
export const WakeConfig = Type.Object(
  {
    /** How long mains must have been back before waking (default 2m). */
    afterOnline: Type.Optional(Duration),
    /** battery.charge (%) needed before waking (default 0: no minimum; an unknown charge never meets a minimum above 0). */
    minCharge: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    /** Send Wake-on-LAN magic packets (default true) to hosts whose MAC is known (configured below or reported by the agent). */
    wol: Type.Optional(Type.Boolean()),
    /** Where magic packets go: an IPv4 broadcast address, optionally with :port (default 255.255.255.255:9). */
    broadcast: Type.Optional(Type.String({ pattern: '^[0-9.]+(:\\d{1,5})?$' })),
    /** MAC per agent id; wins over the MAC the agent reported in hello. */
    macs: Type.Optional(Type.Record(Name, Type.String({ pattern: MAC_PATTERN }))),
    /**
     * Run once per host (IPMI `chassis power on`, a hypervisor CLI), with UPSFLEET_WAKE_AGENT,
     * UPSFLEET_WAKE_MAC (empty when unknown), UPSFLEET_WAKE_GROUP and UPSFLEET_WAKE_ADDRESS in its environment.
     */
    command: Type.Optional(Command),
    /** The command is killed after this long (default 30s). */
    timeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const GroupConfig = Type.Object(
  {
    /** An early group leaves on its own trigger, before the fleet is critical. */
    trigger: Type.Optional(Trigger),
    deadline: Type.Optional(Duration),
    settle: Type.Optional(Duration),
    /** Wake the group's hosts when mains return before the fleet sequence started (early groups only). */
    wake: Type.Optional(WakeConfig),
  },
  { additionalProperties: false },
);

export const AgentEntry = Type.Object(
  { id: Name, group: Name, tokenHash: TokenHash },
  { additionalProperties: false },
);

export const MasterTls = Type.Object(
  {
    /** PEM certificate (chain) and key, e.g. from your own CA; relative to the config file. */
    cert: Type.Optional(Type.String({ minLength: 1 })),
    key: Type.Optional(Type.String({ minLength: 1 })),
    /** Plain HTTP/WS on purpose: allowed only when listen is a loopback address; logs a warning. */
    insecure: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const MasterLimits = Type.Object(
  {
    /** The TLS handshake, then the agent's hello after the upgrade, must each finish this soon (default 30 s: a 10 s round trip fits). */
    handshakeTimeout: Type.Optional(Duration),
    /** Largest inbound message in bytes. */
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576 })),
    /** Open connections allowed from one IP address. */
    connectionsPerAddress: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Failed authentications from one IP before it is refused, with doubling backoff. */
    authFailures: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Longest refusal of an address after repeated failed authentications. */
    maxBackoff: Type.Optional(Duration),
    /** An agent whose clock is further than this from the master's is reported with a warning (never refused). */
    maxClockSkew: Type.Optional(Duration),
    /** Ping intervals an agent may stay silent, on top of twice its measured round trip, before it is dropped (default 2). */
    missedPongs: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** The longest silence allowed to an agent however slow its link (default 2 min). */
    maxSilence: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const AdminEntry = Type.Object({ name: Name, tokenHash: TokenHash }, { additionalProperties: false });

export const MasterConfigSchema = Type.Object(
  {
    master: Type.Object(
      {
        id: Name,
        /** host:port of the agent WebSocket (/ws) and HTTP (/status) listener. Port 0 picks a free port. */
        listen: Type.Optional(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):\\d{1,5}$' })),
        /** Where the master writes its journal and the chosen port (for tests/demos). */
        stateDir: Type.Optional(Type.String({ minLength: 1 })),
        /** Size at which the journal starts a new segment (default 16 MiB; two older segments are kept, and the outage in progress is always carried over). */
        journalMaxBytes: Type.Optional(Type.Integer({ minimum: 4096 })),
        pingInterval: Type.Optional(Duration),
        /** TLS for HTTP, the agent WebSocket and NUT STARTTLS (default: <stateDir>/tls/master.{crt,key} from `upsfleet keygen`). */
        tls: Type.Optional(MasterTls),
        /** Per-agent and admin tokens managed by `upsfleet token add/revoke` (default <stateDir>/tokens.json); re-read when it changes. */
        tokensFile: Type.Optional(Type.String({ minLength: 1 })),
        limits: Type.Optional(MasterLimits),
        /** Advertise `_upsfleet._tcp` (and `_nut._tcp` with the NUT server) over mDNS/DNS-SD; default true when TLS is on. */
        mdns: Type.Optional(Type.Boolean()),
        /**
         * Terminate agents' TLS connections in this many worker processes (default 0: in the master's own
         * process). Worth it on a master with idle cores and a large fleet: each broadcast's per-agent
         * encryption then runs beside the master's own work. TLS only.
         */
        tlsWorkers: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
      },
      { additionalProperties: false },
    ),
    ups: Type.Object(
      {
        name: Type.Optional(Name),
        description: Type.Optional(Type.String()),
        source: SourceConfig,
      },
      { additionalProperties: false },
    ),
    policy: Type.Optional(
      Type.Object(
        {
          /** A critical condition must hold this long before the fleet goes down (short blips are ignored). */
          debounce: Type.Optional(Duration),
          /** Source silent this long while last seen on battery counts as critical (NUT's DEADTIME). */
          deadtime: Type.Optional(Duration),
          critical: Type.Optional(Trigger),
          /**
           * If the master itself is lost while on battery, agents shut down on their own after their deadtime;
           * each step waits this much longer than the one before, so the fleet still leaves in sequence order.
           */
          lostMasterSpacing: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    groups: Type.Optional(Type.Record(Name, GroupConfig)),
    sequence: Type.Array(SequenceStep),
    agents: Type.Optional(Type.Array(AgentEntry)),
    /** Agentless members powered off over SSH (docs/SSH-TARGETS.md). */
    sshTargets: Type.Optional(Type.Array(SshTarget)),
    admins: Type.Optional(Type.Array(AdminEntry)),
    /** Tokens that may watch the dashboard (`/`, `/live`) and `upsfleet monitor` without acting; admin tokens may too. */
    viewers: Type.Optional(Type.Array(AdminEntry)),
    /** The web dashboard on the HTTP(S) port and its live stream. */
    dashboard: Type.Optional(
      Type.Object(
        {
          /**
           * Who may watch: `auto` (default) anyone on loopback, a viewer or admin token from anywhere else;
           * `token` a token always; `open` anyone who reaches the port. Acting (drill, FSD, simulate) always needs an admin token.
           */
          viewing: Type.Optional(
            Type.Union([Type.Literal('auto'), Type.Literal('token'), Type.Literal('open')]),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    shutdown: Type.Optional(
      Type.Object(
        {
          ...Shutdown.properties,
          hooks: Type.Optional(Type.Array(Hook)),
          /** The instant command sent to the UPS after the last step. */
          killpower: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    notify: Type.Optional(Notify),
    /** The battery budget: `upsfleet plan` and the master check that the sequence fits in battery.runtime. */
    plan: Type.Optional(
      Type.Object(
        {
          /** Spare battery time the measured sequence must leave (default 60s). */
          margin: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    log: Type.Optional(Log),
    /** GET /metrics (Prometheus text format, docs/METRICS.md). */
    metrics: Type.Optional(
      Type.Object(
        {
          /**
           * Also export the UPS as nut_exporter does (`network_ups_tools_*` series, `device_info`), so that
           * Grafana dashboards made for NUT show it; default true.
           */
          nutExporter: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /** The NUT-compatible server for stock NUT clients (upsmon, Synology, Home Assistant, ...). */
    nut: Type.Optional(NutServerConfig),
  },
  { additionalProperties: false },
);

export type MasterConfigFile = Static<typeof MasterConfigSchema>;
export type SimulatedSourceConfigT = Static<typeof SimulatedSourceConfig>;
export type UsbhidSourceConfigT = Static<typeof UsbhidSourceConfig>;
export type NutSourceConfigT = Static<typeof NutSourceConfig>;
export type SourceConfigT = Static<typeof SourceConfig>;
export type TriggerT = Static<typeof Trigger>;
