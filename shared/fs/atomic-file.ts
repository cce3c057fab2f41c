/**
 * A file replaced whole: written beside it and renamed over it, so a reader, or the next start after a
 * crash, sees the old content or the new, never part of either.
 *
 * `durable` (the default) also fsyncs the content before the rename and the directory after it, so the
 * new content survives a power cut or a kernel crash right after the call. `durable: false` is for state
 * that only a crash of this process must not tear (the page cache outlives the process), written so often
 * that an fsync each time would cost more than it protects: the simulated UPS's state, saved on every
 * variable change, in the path from a flip to the agents.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** The new file's mode (default 0644). */
  mode?: number;
  /** fsync the content and the directory (default true). */
  durable?: boolean;
}

export function writeFileAtomic(path: string, content: string, opts: AtomicWriteOptions = {}): void {
  const durable = opts.durable ?? true;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', opts.mode ?? 0o644);
    try {
      writeSync(fd, content);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    // a full disk or a read-only directory: no half-written temporary file left behind
    rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) fsyncDirectory(dirname(path));
}

/** Makes a rename in `dir` durable; a platform or filesystem that cannot fsync a directory is let be. */
export function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not every platform can fsync a directory */
  }
}
