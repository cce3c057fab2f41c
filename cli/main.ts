#!/usr/bin/env node
/** The `upsfleet` executable. */
import type { CommandIo } from './commands/command.js';
import { ExitCodes } from './commands/command.js';
import { main } from './dispatch.js';

const io: CommandIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`upsfleet: ${String(err)}\n`);
    process.exitCode = ExitCodes.FAILURE;
  },
);
