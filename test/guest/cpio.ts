/**
 * A cpio archive in the "newc" format the Linux kernel unpacks as an initramfs (see the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII header
 * ("070701" and 13 eight-digit hex fields), the NUL-terminated name, the data, each padded to 4 bytes;
 * the archive ends with an entry named TRAILER!!!. Archives may be concatenated (each gzip'd on its own).
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'char'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(fields: number[]): Buffer {
  return Buffer.from(`070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`, 'ascii');
}

function* entryChunks(entry: CpioEntry | { kind: 'trailer' }, ino: number): Generator<Buffer> {
  const name = entry.kind === 'trailer' ? 'TRAILER!!!' : entry.path.replace(/^\/+/, '');
  let mode = 0;
  let data: Uint8Array = new Uint8Array(0);
  let rdev: [number, number] = [0, 0];
  switch (entry.kind) {
    case 'dir':
      mode = S_IFDIR | (entry.mode ?? 0o755);
      break;
    case 'file':
      mode = S_IFREG | (entry.mode ?? 0o644);
      data = entry.data;
      break;
    case 'symlink':
      mode = S_IFLNK | 0o777;
      data = Buffer.from(entry.target);
      break;
    case 'char':
      mode = S_IFCHR | (entry.mode ?? 0o600);
      rdev = [entry.major, entry.minor];
      break;
    case 'trailer':
      break;
  }
  const nameBytes = Buffer.from(`${name}\0`);
  const nlink = entry.kind === 'dir' ? 2 : 1;
  // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const head = header([ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0]);
  yield head;
  yield nameBytes;
  yield pad4(head.length + nameBytes.length);
  if (data.length > 0) {
    yield Buffer.from(data.buffer, data.byteOffset, data.length);
    yield pad4(data.length);
  }
}

/** The archive's bytes, entry by entry (parents must come before their children). */
export function* cpioChunks(entries: Iterable<CpioEntry>, firstIno = 1): Generator<Buffer> {
  let ino = firstIno;
  for (const entry of entries) yield* entryChunks(entry, ino++);
  yield* entryChunks({ kind: 'trailer' }, 0);
}

/** Writes the entries as one gzip'd cpio archive. */
export async function writeCpioGz(file: string, entries: Iterable<CpioEntry>, firstIno = 1): Promise<void> {
  await pipeline(cpioChunks(entries, firstIno), createGzip({ level: 6 }), createWriteStream(file));
}
