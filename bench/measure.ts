/** Small measuring helpers shared by the benchmark sections: RSS from /proc, percentiles, the machine. */
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

/** Resident set size of a process (MiB), or NaN when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Private (anonymous) resident memory of a process (MiB): RSS without the mapped node binary and libraries. */
export function privateMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Machine {
  cpus: number;
  cpu: string;
  memGiB: number;
  node: string;
  /** 1-minute load average when the run started and ended: a busy machine explains slow figures. */
  load: number[];
}

export function machine(): Machine {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? '?',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    load: [Number(loadavg()[0]?.toFixed(2))],
  };
}

/** Samples a process's RSS every `everyMs` until stopped; returns the highest value seen. */
export function rssPeak(pid: number, everyMs = 50): { stop(): number } {
  let peak = rssMiB(pid);
  const t = setInterval(() => {
    const v = rssMiB(pid);
    if (v > peak) peak = v;
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, rssMiB(pid) || 0);
    },
  };
}

/** Median time (ms) of appending a line and fsyncing it in the temp dir: what a journaled decision waits for. */
export function fsyncMedianMs(samples = 30): number {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-bench-fsync-'));
  const fd = openSync(join(dir, 'j'), 'a');
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      writeSync(fd, `{"kind":"power","i":${i}}\n`);
      fsyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return median(times);
}
