/**
 * Cleans up a host fleet whose test process died without its `after` hook (the runner's per-file timeout
 * kills the file with a signal): a detached watchdog outlives the test process, and once that is gone it
 * stops the nspawn processes the fleet recorded (by pid, checked to still be systemd-nspawn on this fleet's
 * directory), unmounts the fleet's overlays, deletes its bridge, gives its subnet claim back and removes its
 * directory. Without it, each timed-out run left its containers booted and its bridge up for good. A normal
 * destroy() stops the watchdog first.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const WATCHDOG = `
parent="$1"; state="$2"
while kill -0 "$parent" 2>/dev/null; do sleep 2; done
[ -f "$state" ] || exit 0
dir=$(sed -n 's/^dir //p' "$state")
ours() { tr '\\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q "systemd-nspawn .*--directory=$dir/"; }
pids=$(sed -n 's/^pid //p' "$state")
for p in $pids; do ours "$p" && kill -TERM "$p"; done
for i in $(seq 1 60); do
  alive=0; for p in $pids; do ours "$p" && alive=1; done
  [ "$alive" = 0 ] && break; sleep 1
done
for p in $pids; do ours "$p" && kill -KILL "$p"; done
sed -n 's/^mount //p' "$state" | while read -r m; do umount "$m" 2>/dev/null; done
bridge=$(sed -n 's/^bridge //p' "$state"); [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null
claim=$(sed -n 's/^claim //p' "$state")
case "$claim" in /run/upsfleet-test-subnets/*) rm -rf "$claim" ;; esac
# last: the state file lives in this directory
case "$dir" in /var/tmp/upsfleet-hosts-*) rm -rf "$dir" ;; esac
`;

export interface FleetResources {
  dir: string;
  bridge: string | null;
  /** The subnet claim's directory (test/support/subnet-claim.ts). */
  claim: string;
  mounts: string[];
  pids: number[];
}

export interface OrphanReaper {
  /** Writes what to clean up now (call after every change: a mount, a boot, the bridge). */
  record(now: FleetResources): void;
  /** The fleet cleaned up after itself: the watchdog is not needed. */
  stop(): void;
}

export function startOrphanReaper(stateFile: string): OrphanReaper {
  const watchdog = spawn('bash', ['-c', WATCHDOG, 'upsfleet-fleet-reaper', String(process.pid), stateFile], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return {
    record: (r) =>
      writeFileSync(
        stateFile,
        [
          `dir ${r.dir}`,
          ...(r.bridge ? [`bridge ${r.bridge}`] : []),
          `claim ${r.claim}`,
          ...r.mounts.map((m) => `mount ${m}`),
          ...r.pids.map((p) => `pid ${p}`),
          '',
        ].join('\n'),
      ),
    stop: () => {
      if (watchdog.pid !== undefined && watchdog.exitCode === null) process.kill(watchdog.pid, 'SIGTERM');
    },
  };
}
