/**
 * Boots the guest in QEMU (TCG: KVM aborts on our machines; UPSFLEET_GUEST_ACCEL=kvm to try it) with the
 * serial console on the child's stdout, collects the `@@UPSFLEET-GUEST` lines the guest prints, and waits
 * for the guest to power itself off. Only the QEMU process this started is ever killed (on timeout).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const QEMU = 'qemu-system-x86_64';
const MARK = '@@UPSFLEET-GUEST ';

export interface GuestResult {
  path: string[];
  status: 'pass' | 'fail';
  skip?: string | true;
  todo?: string | true;
  failureType?: string;
  error?: string;
  ms: number;
}

export interface GuestRun {
  booted?: string;
  /** Exit status of the guest's test runner, when it got that far. */
  exitCode?: number;
  results: GuestResult[];
  /** Everything the console printed (for the failure message). */
  console: string[];
  timedOut: boolean;
  qemuExit: number | null;
}

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Parses one console line; the guest's lines may carry a \r from the serial line. */
export function parseConsoleLine(raw: string, run: GuestRun): void {
  const line = raw.replace(/\r$/, '');
  run.console.push(line);
  const at = line.indexOf(MARK);
  if (at < 0) return;
  const [kind, ...rest] = line.slice(at + MARK.length).split(' ');
  const body = rest.join(' ');
  if (kind === 'booted') run.booted = body;
  else if (kind === 'exit') run.exitCode = Number(body);
  else if (kind === 'result') {
    try {
      run.results.push(JSON.parse(body) as GuestResult);
    } catch {
      run.console.push(`(unparsable result line: ${body})`);
    }
  }
}

export interface BootOptions {
  vmlinuz: string;
  initrd: string;
  memoryMb?: number;
  timeoutMs: number;
  /** Each console line as it arrives (progress for a person watching). */
  onLine?: (line: string) => void;
}

export function bootGuest(opts: BootOptions): Promise<GuestRun> {
  // a name pattern for the guest's runner, without spaces (it travels on the kernel command line)
  const only = process.env.UPSFLEET_GUEST_ONLY?.replace(/\s/g, '.');
  const accel =
    process.env.UPSFLEET_GUEST_ACCEL === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      : ['-accel', 'tcg', '-cpu', 'max'];
  const args = [
    ...accel,
    '-m',
    String(opts.memoryMb ?? 2048),
    '-smp',
    '2',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    opts.vmlinuz,
    '-initrd',
    opts.initrd,
    '-append',
    `console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init${only ? ` upsfleet.only=${only}` : ''}`,
  ];
  const run: GuestRun = { results: [], console: [], timedOut: false, qemuExit: null };
  return new Promise((resolve, reject) => {
    const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        parseConsoleLine(line, run);
        opts.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) =>
      run.console.push(`[qemu] ${chunk.toString('utf8').trimEnd()}`),
    );
    const timer = setTimeout(() => {
      run.timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pending) parseConsoleLine(pending, run);
      run.qemuExit = code;
      resolve(run);
    });
  });
}
