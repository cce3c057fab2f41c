/**
 * `<stateDir>/simulated-ups.commands.jsonl`: every instant command the simulated UPS accepted, one JSON
 * line `{ name, param, at }` each, fsynced, kept across restarts of the master. It lets a test check from
 * the UPS's side that killpower arrived exactly once. A failing disk is logged (rate-limited), never thrown:
 * the command itself has been accepted.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../../shared/clock.js';
import type { RecordedCommand } from './simulated-source.js';
import { WriteFailureLog } from './write-failure-log.js';

export const SIMULATED_COMMANDS_FILE = 'simulated-ups.commands.jsonl';

export class SimulatedCommandLog {
  readonly path: string;
  private readonly failures: WriteFailureLog;

  constructor(dir: string, clock: Clock, logger: Logger) {
    this.path = join(dir, SIMULATED_COMMANDS_FILE);
    this.failures = new WriteFailureLog(this.path, 'simulated UPS command log', clock, logger);
  }

  append(command: RecordedCommand): void {
    // param is written as null when absent, so every line has the same three keys
    const line = `${JSON.stringify({ name: command.name, param: command.param ?? null, at: command.at })}\n`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      const fd = openSync(this.path, 'a', 0o644);
      try {
        writeSync(fd, line);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.failures.succeeded();
    } catch (err) {
      this.failures.failed(err);
    }
  }
}
