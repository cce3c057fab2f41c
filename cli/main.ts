#!/usr/bin/env node
import { TLS_WORKER_ARG } from '../master/servers/tls-worker/worker-protocol.js';
/** The `upsfleet` executable. */
import type { CommandIo } from './commands/command.js';
import { ExitCodes } from './commands/command.js';
import { main } from './dispatch.js';

// A reader that went away (`upsfleet status | head`) is not an error: stop quietly with what was asked for
// printed, instead of an unhandled EPIPE stack trace (Node ignores SIGPIPE, which would end a C program here).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

const io: CommandIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
// the one-file bundle forks itself as the master's TLS worker (master/servers/tls-worker/tls-worker-pool.ts)
if (process.argv[2] === TLS_WORKER_ARG && process.send)
  void import('../master/servers/tls-worker/tls-worker.js').then((w) => w.runTlsWorker());
else
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`upsfleet: ${String(err)}\n`);
      process.exitCode = ExitCodes.FAILURE;
    },
  );
