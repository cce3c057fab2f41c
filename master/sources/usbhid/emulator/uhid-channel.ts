/**
 * /dev/uhid through node:fs. The file is opened non-blocking and read by a short poll: a blocking read would
 * sit in a libuv pool thread that closing the file cannot wake, and the same pool serves node-hid's calls
 * when both ends run in one process. Each read returns one whole event; each write is one whole event.
 */
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { UpsfleetError } from '../../../../shared/errors.js';
import { decodeKernelEvent, UHID_EVENT_SIZE, type UhidKernelEvent } from './uhid-events.js';

export const UHID_PATH = '/dev/uhid';
/** Idle poll period: a GET_REPORT waits at most this long for its answer (the kernel waits 5 s). */
const IDLE_POLL_MS = 3;

/** The kernel end of one uhid device, as the emulator sees it (a fake in unit tests). */
export interface UhidChannel {
  write(event: Uint8Array): void;
  /** Starts delivering kernel events; errors (other than "nothing to read") end the channel. */
  start(onEvent: (event: UhidKernelEvent) => void, onError: (err: Error) => void): void;
  close(): void;
}

/** Opens /dev/uhid; the errors say how to get access. */
export function openUhid(path = UHID_PATH): UhidChannel {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV')
      throw new UpsfleetError(
        'HID_NO_DEVICE',
        `${path} does not exist: load the kernel's uhid module (\`sudo modprobe uhid\`)`,
        { path },
        { cause: err },
      );
    if (code === 'EACCES' || code === 'EPERM')
      throw new UpsfleetError(
        'HID_PERMISSION',
        `${path}: permission denied (uhid creates kernel devices: run as root, or give this user read/write access to ${path})`,
        { path },
        { cause: err },
      );
    throw new UpsfleetError('HID_IO', `${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  return new UhidFile(fd, path);
}

class UhidFile implements UhidChannel {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly buffer = new Uint8Array(UHID_EVENT_SIZE);

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  write(event: Uint8Array): void {
    if (this.closed) throw new UpsfleetError('HID_IO', `${this.path} is closed`, { path: this.path });
    try {
      writeSync(this.fd, event);
    } catch (err) {
      throw new UpsfleetError(
        'HID_IO',
        `${this.path}: write failed: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
  }

  start(onEvent: (event: UhidKernelEvent) => void, onError: (err: Error) => void): void {
    const poll = () => {
      this.timer = undefined;
      if (this.closed) return;
      let got = 0;
      try {
        // drain what is queued, then sleep a little
        for (;;) {
          const n = readSync(this.fd, this.buffer, 0, this.buffer.length, null);
          if (n <= 0) break;
          got++;
          onEvent(decodeKernelEvent(this.buffer.subarray(0, n)));
          if (this.closed) return;
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
          onError(
            new UpsfleetError(
              'HID_IO',
              `${this.path}: read failed: ${(err as Error).message}`,
              {},
              { cause: err },
            ),
          );
          return;
        }
      }
      this.timer = got > 0 ? setTimeout(poll, 0) : setTimeout(poll, IDLE_POLL_MS);
    };
    poll();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    // closing /dev/uhid also destroys a device still created on it
    closeSync(this.fd);
  }
}
