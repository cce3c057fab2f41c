/**
 * `<stateDir>/lost-master-delay.json`: the agent's place in the shutdown order as the last welcome gave it
 * (master id, step, steps, lostMasterDelayMs), so that an agent restarted while the master is down still
 * waits its step's extra time before shutting down on its own. Replaced atomically (tmp + rename).
 * Never throws: an unusable file is reported with its path and ignored, and a failing write is logged once
 * as an error (with path and errno) while the agent goes on from memory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { writeFileAtomic } from '../shared/fs/atomic-file.js';
import type { Logger } from '../shared/logger.js';
import { Welcome } from '../shared/protocol/messages.js';

export const LOST_MASTER_DELAY_FILE = 'lost-master-delay.json';
export const LOST_MASTER_DELAY_FORMAT = 'upsfleet-lost-master-delay/1';

// the fields come from the welcome's own schema, so the file cannot drift from what the master sends
export const LostMasterDelaySchema = Type.Object({
  format: Type.Literal(LOST_MASTER_DELAY_FORMAT),
  masterId: Welcome.properties.masterId,
  group: Welcome.properties.group,
  step: Welcome.properties.step,
  steps: Welcome.properties.steps,
  lostMasterDelayMs: Type.Integer({ minimum: 0 }),
  /** When the welcome arrived (epoch ms), for whoever reads the file. */
  savedAt: Type.Integer({ minimum: 0 }),
});

export type LostMasterDelay = Static<typeof LostMasterDelaySchema>;
/** What a welcome tells the agent about its place. */
export type LostMasterPlace = Omit<LostMasterDelay, 'format' | 'savedAt'>;

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile<LostMasterDelay>(LostMasterDelaySchema);

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
}

export class LostMasterDelayStore {
  readonly path: string;
  /** What the file holds now (read or written by us), to skip rewriting the same place on every reconnect. */
  private onDisk: string | null = null;
  private writeFailing = false;

  constructor(
    stateDir: string,
    private readonly logger: Logger,
  ) {
    this.path = join(stateDir, LOST_MASTER_DELAY_FILE);
  }

  /** The saved place, or null when there is none or it cannot be used (then reported). */
  load(): LostMasterDelay | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return null;
      this.ignore(`cannot be read (${errnoOf(err)})`, err);
      return null;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.ignore(`is not valid JSON (${(err as Error).message})`);
      return null;
    }
    if (!validate(json)) {
      this.ignore(`does not match ${LOST_MASTER_DELAY_FORMAT}: ${describe(validate.errors)}`);
      return null;
    }
    this.onDisk = placeKey(json);
    return json;
  }

  save(place: LostMasterPlace, now: number): void {
    const key = placeKey(place);
    if (key === this.onDisk) return;
    const { masterId, group, step, steps, lostMasterDelayMs } = place;
    const record: LostMasterDelay = {
      format: LOST_MASTER_DELAY_FORMAT,
      masterId,
      group,
      step,
      steps,
      lostMasterDelayMs,
      savedAt: now,
    };
    try {
      writeFileAtomic(this.path, `${JSON.stringify(record)}\n`);
      this.onDisk = key;
      if (this.writeFailing) this.logger.info({ path: this.path }, 'the saved place can be written again');
      this.writeFailing = false;
    } catch (err) {
      // a full or read-only disk fails every write: say it once, the place still counts from memory
      if (this.writeFailing) return;
      this.writeFailing = true;
      this.logger.error(
        { code: 'AGENT_STATE_WRITE_FAILED', path: this.path, errno: errnoOf(err), err },
        'cannot save our place in the shutdown order; keeping it in memory only',
      );
    }
  }

  private ignore(reason: string, err?: unknown): void {
    this.logger.warn(
      { code: 'AGENT_STATE_UNREADABLE', path: this.path, reason, ...(err ? { err } : {}) },
      'the saved place in the shutdown order is unusable: ignored until a master welcomes us',
    );
  }
}

/** The place without format and timestamp, to tell whether a welcome changed what is on disk. */
function placeKey(p: LostMasterPlace): string {
  return JSON.stringify([p.masterId, p.group, p.step, p.steps, p.lostMasterDelayMs]);
}
