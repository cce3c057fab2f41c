/**
 * The journal: one JSON line per event, order, confirmation and step, appended synchronously so that what
 * happened before a power cut is on disk. The demo prints its timeline from here; operators read it after.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export class Journal {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  write(entry: Record<string, unknown>): void {
    appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
  }
}
