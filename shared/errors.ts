/**
 * The errors catalogue: every error upsfleet raises carries one of these stable codes.
 * Callers branch on `code`, never on message text. docs/ERRORS.md lists every code (a test checks it).
 */
export const ErrorCodes = {
  // configuration and command line
  CONFIG_NOT_FOUND: 'the configuration file does not exist or cannot be read',
  CONFIG_SYNTAX: 'the configuration file is not valid YAML',
  CONFIG_INVALID: 'the configuration does not match its schema',
  CLI_USAGE: 'the command line is not understood',
  DURATION_INVALID: 'a duration is not a number of seconds nor a string like 90s, 5m, 1h',
  // protocol (master <-> agent)
  PROTO_MALFORMED: 'a message is not valid JSON or not an object',
  PROTO_TOO_LARGE: 'a message exceeds the maximum size',
  PROTO_UNKNOWN_TYPE: 'a message has a type this side does not know',
  PROTO_INVALID: 'a message does not match its schema',
  PROTO_VERSION: 'a message carries a protocol version this side does not speak',
  PROTO_UNEXPECTED: 'a valid message arrived at a moment it is not allowed (e.g. before hello)',
  AUTH_FAILED: 'the token is wrong, unknown or revoked',
  AUTH_FORBIDDEN: 'the peer is authenticated but its role does not allow this',
  AUTH_TIMEOUT: 'the peer did not authenticate in time',
  PROTO_REPLAY:
    'a message id was already seen on this connection, or the message does not carry the session id of this connection (replayed or duplicated)',
  PROTO_STALE:
    'a message is out of order on its connection: its sequence number is not above the previous one (clocks are never compared)',
  CLOCK_SKEW:
    "an agent's clock differs from the master's by more than limits.maxClockSkew (a warning, /status and a metric: never a refusal)",
  RATE_LIMITED: 'too many connections or failed authentications from one address; refused for a while',
  HANDSHAKE_SHED:
    'the master had more TLS handshakes queued than it could finish in time and refused new connections at once (a TCP reset, no TLS work); agents retry within their reconnect window',
  TOKEN_UNKNOWN: 'no token with this id exists in the tokens file',
  TOKEN_FILE_EMPTY: 'a token file is empty (or only whitespace): it holds no token',
  TOKEN_FILE_INSECURE:
    'a token file grants any access to group or others: the agent refuses it (as ssh refuses a private key) until it is chmod 600',
  TOKEN_PLAINTEXT:
    'the command would send a token over plain http:// or ws:// to a non-loopback address: use https:// (and --fingerprint) instead',
  // network / listeners
  LISTEN_INSECURE: 'a non-loopback listen address was configured without TLS',
  LISTEN_FAILED: 'a listener could not bind its address',
  CONNECTION_STALLED:
    'a connection was closed because its request headers or body did not arrive in time (idle, partial or trickled)',
  TLS_WORKER_REFUSED:
    'a TLS worker process refused or closed an agent connection by its own limits: a failed or stalled TLS handshake, upgrade headers not in time, a request other than /ws',
  TLS_WORKER_EXITED:
    "a TLS worker process died or was killed for not answering: its agents' links were closed as the master's doing (never a confirmation); they reconnect, and the worker is started again",
  TLS_WORKERS_IGNORED:
    'master.tlsWorkers is set on a master without TLS: there is nothing to terminate; ignored',
  FD_EXHAUSTED:
    'the master ran out of file descriptors (ulimit -n / LimitNOFILE): new connections are refused until some close; connected agents are served as before',
  MASTER_UNREACHABLE: 'no configured master answered',
  TLS_MATERIAL: 'the TLS key or certificate cannot be read, parsed or do not belong together',
  TLS_PIN_MISMATCH: "the master's certificate does not match the pinned fingerprint",
  TLS_VERIFY_FAILED: "the master's certificate did not verify against the configured CA",
  DISCOVERY_FAILED: 'mDNS/DNS-SD advertising or browsing failed',
  // sources
  SOURCE_TIMELINE: 'a simulated timeline file has a line that cannot be understood',
  SOURCE_LOST: 'the UPS source stopped answering',
  SOURCE_COMMAND_UNSUPPORTED: 'the source cannot execute this instant command',
  SOURCE_VARIABLE_READONLY: 'the source cannot set this variable',
  NUT_ERROR: 'a NUT server (upsd) answered ERR to a command',
  NUT_ADDRESS_INVALID: 'a NUT address is not ups@host[:port]',
  // HID driver
  HID_DESCRIPTOR: 'a HID report descriptor cannot be parsed',
  HID_REPORT: 'a HID report cannot be decoded or encoded',
  HID_CAPTURE: 'a capture file is malformed',
  HID_NO_DEVICE: 'no matching HID UPS is attached',
  HID_UNAVAILABLE:
    'node-hid (the native USB HID library the usbhid source needs) cannot be loaded: the master stops (exit 8) instead of running blind',
  HID_PERMISSION: 'the HID device exists but this user may not open it',
  HID_IO: 'reading or writing the HID device failed',
  // shutdown path
  HOOK_FAILED: 'a hook exited non-zero or could not start',
  HOOK_TIMEOUT: 'a hook ran past its timeout and was killed',
  GUEST_LIST_FAILED:
    'a guest preset could not list the running guests (virsh, docker, podman, qm or pct failed or is missing): it stopped none of them',
  GUEST_STOP_FAILED: 'a guest preset could not stop a guest: it was still running after being forced',
  GUEST_START_FAILED: 'after power returned, a guest stopped by a preset could not be started again',
  GUEST_RECORD_FAILED:
    'the record of the guests a preset stopped could not be written or read (state directory): they are not started again after power returns',
  SHUTDOWN_COMMAND_FAILED: 'the power-off command could not be run',
  DRILL_REFUSED: 'a drill cannot start now: a drill is running or a real shutdown sequence has started',
  // power that returns
  WAKE_FAILED:
    'waking a host of an early group failed: the Wake-on-LAN packet could not be sent or the wake command failed',
  // the agent's own state
  AGENT_STATE_UNREADABLE:
    "the agent's saved place in the shutdown order (<stateDir>/lost-master-delay.json) cannot be read or is corrupt: ignored until a master welcomes the agent again",
  AGENT_STATE_WRITE_FAILED:
    'the agent cannot save its place in the shutdown order (full or read-only disk): it keeps it in memory and goes on',
  // the journal (the master's memory)
  JOURNAL_CORRUPT:
    'a journal line failed its checksum or was torn by a crash: skipped (a torn tail is cut off)',
  JOURNAL_UNREADABLE:
    'the journal could not be read at start: the master starts without memory of earlier runs',
  // SSH targets (docs/SSH-TARGETS.md)
  SSH_HOST_KEY_MISMATCH:
    "an SSH target's server showed a host key other than the pinned one: refused before anything was sent (the message shows both fingerprints)",
  SSH_AUTH_FAILED: "an SSH target's server refused the user and private key",
  SSH_UNREACHABLE:
    "an SSH target's server could not be reached or did not finish the handshake in time (refused, no answer, no route)",
  SSH_KEY_UNREADABLE:
    "an SSH target's private key file cannot be read or is not an unencrypted OpenSSH/PEM key",
  SSH_COMMAND_FAILED:
    "an SSH target's command (or the sudo rule `upsfleet target test` checks) failed: its exit status and output say why",
  SSH_CLIENT_UNAVAILABLE:
    'the SSH client library (ssh2) could not be loaded: no SSH target can be probed or ordered (reinstall upsfleet)',
  TARGET_UNKNOWN: 'no SSH target with this id in the master configuration',
  JOURNAL_WRITE_FAILED:
    'a journal write or fsync failed (full disk, I/O error): records are kept in memory until the disk takes them again; the shutdown goes on',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class UpsfleetError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UpsfleetError';
    this.code = code;
    this.details = details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isUpsfleetError(err: unknown, code?: ErrorCode): err is UpsfleetError {
  return err instanceof UpsfleetError && (code === undefined || err.code === code);
}
