/**
 * libvirt domains through virsh: `list --name --state-running`, `shutdown --domain NAME` (the guest's
 * ACPI or agent shutdown, which returns at once), then one shared poll of `list --name` (the active
 * domains) until each is gone, `destroy --domain NAME` when its time is up, `start --domain NAME`.
 */
import type { Clock } from '../clock.js';
import {
  failure,
  type Guest,
  type GuestDriver,
  type StopAttempt,
  sleep,
  succeeded,
  type ToolRunner,
} from './guest-driver.js';

export const LIBVIRT_POLL_MS = 1_000;
/** One virsh call's limit (a hung libvirtd must not hold the preset). */
const VIRSH_TIMEOUT_MS = 30_000;

export class LibvirtDriver implements GuestDriver {
  private readonly waiters = new Map<string, Set<() => void>>();
  private polling = false;

  constructor(
    private readonly tool: ToolRunner,
    private readonly uri: string,
    private readonly command = 'virsh',
    private readonly pollMs = LIBVIRT_POLL_MS,
  ) {}

  private argv(...args: string[]): string[] {
    return [this.command, '-q', '-c', this.uri, ...args];
  }

  private get clock(): Clock {
    return this.tool.clock;
  }

  async list(): Promise<Guest[]> {
    const out = await this.tool.output(this.argv('list', '--name', '--state-running'), VIRSH_TIMEOUT_MS);
    return names(out).map((name) => ({ id: name, name, kind: 'vm' }));
  }

  async shutdown(g: Guest, graceMs: number): Promise<StopAttempt> {
    const asked = await this.tool.exec(this.argv('shutdown', '--domain', g.id), VIRSH_TIMEOUT_MS);
    if (!succeeded(asked)) {
      // it may have gone off between the list and now: then there is nothing to stop
      if ((await this.activeNames())?.has(g.id) === false) return { off: true };
      return { off: false, error: failure(asked) };
    }
    return { off: await this.waitOff(g.id, graceMs) };
  }

  async force(g: Guest): Promise<StopAttempt> {
    const r = await this.tool.exec(this.argv('destroy', '--domain', g.id), VIRSH_TIMEOUT_MS);
    if (succeeded(r)) return { off: true };
    if ((await this.activeNames())?.has(g.id) === false) return { off: true };
    return { off: false, error: failure(r) };
  }

  async start(g: Guest): Promise<{ ok: boolean; error?: string }> {
    const r = await this.tool.exec(this.argv('start', '--domain', g.id), VIRSH_TIMEOUT_MS);
    return succeeded(r) ? { ok: true } : { ok: false, error: failure(r) };
  }

  /** The active (running, paused, shutting down) domains, or null when virsh cannot say. */
  private async activeNames(): Promise<Set<string> | null> {
    const r = await this.tool.exec(this.argv('list', '--name'), VIRSH_TIMEOUT_MS);
    return succeeded(r) ? new Set(names(r.stdout)) : null;
  }

  /** True once the domain is no longer active, false after graceMs. */
  private waitOff(name: string, graceMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (off: boolean) => {
        if (done) return;
        done = true;
        timer.cancel();
        const set = this.waiters.get(name);
        set?.delete(onOff);
        if (set?.size === 0) this.waiters.delete(name);
        resolve(off);
      };
      const onOff = () => finish(true);
      const timer = this.clock.setTimer(graceMs, () => finish(false));
      let set = this.waiters.get(name);
      if (!set) {
        set = new Set();
        this.waiters.set(name, set);
      }
      set.add(onOff);
      void this.poll();
    });
  }

  /** One poll loop for every domain waited for: one virsh process per interval, whatever their number. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      while (this.waiters.size > 0) {
        const active = await this.activeNames();
        if (active) {
          for (const [name, set] of [...this.waiters]) if (!active.has(name)) for (const w of [...set]) w();
        }
        if (this.waiters.size === 0) break;
        await sleep(this.clock, this.pollMs);
      }
    } finally {
      this.polling = false;
    }
  }
}

function names(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
