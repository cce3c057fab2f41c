/**
 * `<stateDir>/simulated-ups.json`: what a simulated UPS would remember across a restart of the master,
 * as a real UPS keeps its state while the master is down. Replaced atomically on every change; a file
 * that cannot be read or does not match the schema is reported once and ignored (fresh start), and a
 * failing write is reported (rate-limited) while the source goes on from memory. Never throws.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import type { Logger } from 'pino';
import type { Clock } from '../../../shared/clock.js';
import { writeFileAtomic } from '../../../shared/fs/atomic-file.js';
import type { TimelineStep } from './timeline.js';
import { WriteFailureLog } from './write-failure-log.js';

export const SIMULATED_STATE_FILE = 'simulated-ups.json';
export const SIMULATED_STATE_FORMAT = 'upsfleet-simulated-ups/1';

export const SimulatedStateSchema = Type.Object({
  format: Type.Literal(SIMULATED_STATE_FORMAT),
  /** Which timeline `nextStep` points into (see timelineFingerprint). */
  timeline: Type.String(),
  vars: Type.Record(Type.String(), Type.String()),
  /** Index of the next timeline step to apply. */
  nextStep: Type.Integer({ minimum: 0 }),
  /** When the TIMER being waited on ends (epoch ms), null when not waiting. */
  waitEndsAt: Type.Union([Type.Number(), Type.Null()]),
  comm: Type.Object({ ok: Type.Boolean(), reason: Type.String() }),
  savedAt: Type.Number(),
});

export type SimulatedState = Static<typeof SimulatedStateSchema>;

const ajv = new Ajv({ allErrors: true, strict: false });
const validateState = ajv.compile<SimulatedState>(SimulatedStateSchema);

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
}

/** Identifies a timeline by its steps (not line numbers): a saved position is only meaningful in the same timeline. */
export function timelineFingerprint(steps: TimelineStep[]): string {
  const content = steps.map(({ line: _line, ...step }) => step);
  return `sha256:${createHash('sha256').update(JSON.stringify(content)).digest('hex')}`;
}

export class SimulatedStateFile {
  readonly path: string;
  private readonly failures: WriteFailureLog;

  constructor(
    dir: string,
    clock: Clock,
    private readonly logger: Logger,
  ) {
    this.path = join(dir, SIMULATED_STATE_FILE);
    this.failures = new WriteFailureLog(this.path, 'simulated UPS state file', clock, logger);
  }

  /** The saved state, or null when there is none or it cannot be used (then logged once, as an error). */
  load(): SimulatedState | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.ignore(`cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
      return null;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.ignore(`is not valid JSON (${(err as Error).message})`, err);
      return null;
    }
    if (!validateState(json)) {
      this.ignore(`does not match ${SIMULATED_STATE_FORMAT}: ${describe(validateState.errors)}`);
      return null;
    }
    return json;
  }

  save(state: SimulatedState): void {
    try {
      // whole after a crash of the master (renamed into place); not fsynced: saved on every change, in the
      // path from a flip to the agents, and a simulated UPS has no power to lose
      writeFileAtomic(this.path, `${JSON.stringify(state)}\n`, { durable: false });
      this.failures.succeeded();
    } catch (err) {
      this.failures.failed(err);
    }
  }

  private ignore(reason: string, err?: unknown): void {
    this.logger.error(
      { path: this.path, reason, ...(err ? { err } : {}) },
      'the saved simulated UPS state is unusable: starting the simulated UPS afresh',
    );
  }
}
