/** One CLI subcommand: receives its own arguments (after the subcommand name) and returns the exit code. */
export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export type CommandHandler = (argv: string[], io: CommandIo) => Promise<number>;

/** Documented exit codes (README, `upsfleet --help`). */
export const ExitCodes = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  CONFIG: 3,
  UNREACHABLE: 4,
  NO_DEVICE: 5,
  PERMISSION: 6,
  BAD_INPUT: 7,
  /** A configured part cannot be loaded at all (node-hid for the usbhid source): a restart will not help. */
  UNAVAILABLE: 8,
} as const;
