/**
 * Guest presets: hook entries that stop what runs on a host (libvirt domains, Docker and Podman
 * containers, Proxmox guests) before the host goes, report each guest, list only in a drill, and can
 * start again after power returns what they stopped (docs/GUESTS.md). An agent hook is either a
 * command (`run:`) or one of these (`preset:`); the preset's name picks its schema, so a mistake is
 * reported against that preset's own settings, at its line.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Duration, Hook } from './common-schema.js';

/** A guest name or a shell-style pattern (`web-*`, `db?`). */
const GuestPattern = Type.String({ minLength: 1, maxLength: 256 });

/** Settings every preset has. */
const common = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** The whole preset's budget, like a command hook's timeout (default 2m). */
  timeout: Type.Optional(Duration),
  /**
   * How long one guest may take to stop on its own before it is forced (libvirt: `virsh destroy`;
   * containers: killed by `stop -t`; Proxmox: `qm stop` / `pct stop`). Default: the timeout less 15 s,
   * at least half of it. Always less than the timeout.
   */
  forceAfter: Type.Optional(Duration),
  /**
   * Guests stopped first, one entry after another (each entry's guests together, waited for until off);
   * the guests no entry names go last, all at once. Without it every guest stops at once.
   */
  order: Type.Optional(
    Type.Array(Type.Union([GuestPattern, Type.Array(GuestPattern, { minItems: 1 })]), { maxItems: 64 }),
  ),
  /** Guests never stopped (nor started again): names or patterns. */
  exclude: Type.Optional(Type.Array(GuestPattern, { maxItems: 64 })),
  /**
   * Start again, after power returns, what this preset stopped: `true` or `on-line` once the agent has
   * started and the UPS is on line again; `on-start` as soon as the agent starts. Default false.
   */
  restartAfterPower: Type.Optional(
    Type.Union([Type.Boolean(), Type.Literal('on-line'), Type.Literal('on-start')], {
      description: 'true, false, "on-line" or "on-start"',
    }),
  ),
  /** Run the preset's commands through `sudo -n` (docs/GUESTS.md has the sudoers lines). */
  sudo: Type.Optional(Type.Boolean()),
};

export const LibvirtPreset = Type.Object(
  {
    preset: Type.Literal('libvirt'),
    ...common,
    /** libvirt connection URI (default qemu:///system). */
    uri: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** The same as forceAfter, in libvirt's word (give one of the two). */
    destroyAfter: Type.Optional(Duration),
    /** The virsh program (default `virsh` on PATH). */
    command: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const containerSettings = {
  ...common,
  /** Rootless: run as this user, with its XDG_RUNTIME_DIR (/run/user/UID). */
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]*$' })),
  /** The daemon's socket or address (`-H` / `--url`), e.g. unix:///run/user/1000/docker.sock. */
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  /** The program (default `docker` / `podman` on PATH). */
  command: Type.Optional(Type.String({ minLength: 1 })),
};

export const DockerPreset = Type.Object(
  { preset: Type.Literal('docker'), ...containerSettings },
  { additionalProperties: false },
);

export const PodmanPreset = Type.Object(
  { preset: Type.Literal('podman'), ...containerSettings },
  { additionalProperties: false },
);

export const ProxmoxPreset = Type.Object(
  {
    preset: Type.Literal('proxmox'),
    ...common,
    /** Which guests of this node: `qm` (virtual machines) and/or `pct` (containers). Default both. */
    kinds: Type.Optional(
      Type.Array(Type.Union([Type.Literal('qm'), Type.Literal('pct')]), { minItems: 1, maxItems: 2 }),
    ),
  },
  { additionalProperties: false },
);

export const GUEST_PRESETS = {
  libvirt: LibvirtPreset,
  docker: DockerPreset,
  podman: PodmanPreset,
  proxmox: ProxmoxPreset,
} as const;

export type GuestPresetName = keyof typeof GUEST_PRESETS;
export type LibvirtPresetConfig = Static<typeof LibvirtPreset>;
export type ContainerPresetConfig = Static<typeof DockerPreset> | Static<typeof PodmanPreset>;
export type ProxmoxPresetConfig = Static<typeof ProxmoxPreset>;
export type GuestPresetConfig = LibvirtPresetConfig | ContainerPresetConfig | ProxmoxPresetConfig;
export type CommandHookConfig = Static<typeof Hook>;
export type AgentHookConfig = CommandHookConfig | GuestPresetConfig;

/**
 * An agent hook: a command (`run:`) or a guest preset (`preset:`). Validated with if/then on `preset`
 * rather than a plain union, so that ajv reports the one schema that applies instead of every branch.
 */
/** JSON Schema's if/then, built by key: a literal `then` property reads to linters as a thenable. */
function ifThen(condition: object, consequence: object): object {
  return Object.fromEntries([
    ['if', condition],
    ['then', consequence],
  ]);
}

export const AgentHook = Type.Unsafe<AgentHookConfig>({
  type: 'object',
  allOf: [
    ifThen(
      { type: 'object', required: ['preset'] },
      { properties: { preset: { enum: Object.keys(GUEST_PRESETS) } } },
    ),
    ...Object.entries(GUEST_PRESETS).map(([preset, schema]: [string, TSchema]) =>
      ifThen({ type: 'object', properties: { preset: { const: preset } }, required: ['preset'] }, schema),
    ),
    ifThen({ not: { required: ['preset'] } }, Hook),
  ],
});

export function isGuestPreset(h: AgentHookConfig): h is GuestPresetConfig {
  return 'preset' in h && h.preset !== undefined;
}
