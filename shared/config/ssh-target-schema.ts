/**
 * The `sshTargets:` section of the master config: agentless members the master powers off over SSH
 * (a NAS, a firewall, a hypervisor, any host where no agent runs). docs/SSH-TARGETS.md.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Duration, Name } from './common-schema.js';

/** `ssh-ed25519 AAAA... [comment]` as in known_hosts or the server's /etc/ssh/ssh_host_*_key.pub. */
export const HOST_KEY_LINE_PATTERN =
  '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( .*)?$';
/** `SHA256:<43 base64 characters>` as `ssh-keygen -lf` prints it. */
export const HOST_KEY_FINGERPRINT_PATTERN = '^SHA256:[A-Za-z0-9+/]{43}=?$';

export const SshTarget = Type.Object(
  {
    /** The member's id in the fleet (status, journal, dashboard); unique among agents and targets. */
    id: Name,
    /** The group it goes down with: a step of the sequence or an early group. */
    group: Name,
    /** host or host:port ([v6]:port) of its SSH server; port 22 by default. */
    address: Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s\\[\\]]+)(:\\d{1,5})?$' }),
    /** The account the master logs in as. */
    user: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._][A-Za-z0-9._@-]*$' }),
    /** The private key file (OpenSSH or PEM, unencrypted), relative to the config file; keep it 0600. */
    key: Type.String({ minLength: 1 }),
    /**
     * The server's host key, pinned like a known_hosts line: its public key (`ssh-ed25519 AAAA...`, from
     * /etc/ssh/ssh_host_ed25519_key.pub or `ssh-keyscan`) or its fingerprint as `ssh-keygen -lf` prints it
     * (`SHA256:...`). Any other key is refused before anything is sent.
     */
    hostKey: Type.Union(
      [
        Type.String({ pattern: HOST_KEY_LINE_PATTERN }),
        Type.String({ pattern: HOST_KEY_FINGERPRINT_PATTERN }),
      ],
      { description: 'an OpenSSH public key line (ssh-ed25519 AAAA...) or a SHA256:... fingerprint' },
    ),
    /** Run at its step, by the remote user's shell (default `sudo -n systemctl poweroff`). */
    command: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** Run instead during a drill: must change nothing (default `true`); its duration is measured. */
    drillCommand: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /**
     * Confirmed down once, after its command was accepted, its SSH port refused or ignored connections
     * continuously for this long (default 5s), within the step's deadline.
     */
    unreachableFor: Type.Optional(Duration),
    /** How often the master checks that it can log in while nothing happens (default 60s). */
    probeInterval: Type.Optional(Duration),
    /** Connecting, the handshake and the login must each finish this soon (default 10s). */
    connectTimeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export type SshTargetT = Static<typeof SshTarget>;
