/**
 * Proxmox VE guests on this node: `qm list` / `pct list` for the running ones, `qm shutdown VMID
 * --timeout N` (it waits; non-zero when the guest was not off in time), `qm stop VMID` to force, `qm
 * start VMID`; the same with pct for containers. The alternative is the node's API
 * (POST /nodes/NODE/qemu/VMID/status/shutdown with an API token): docs/GUESTS.md.
 */
import {
  failure,
  type Guest,
  type GuestDriver,
  type StopAttempt,
  succeeded,
  type ToolRunner,
} from './guest-driver.js';

const CLI_TIMEOUT_MS = 60_000;

export class ProxmoxDriver implements GuestDriver {
  constructor(
    private readonly tool: ToolRunner,
    private readonly kinds: ReadonlyArray<'qm' | 'pct'>,
  ) {}

  async list(): Promise<Guest[]> {
    const guests: Guest[] = [];
    for (const kind of this.kinds) {
      const out = await this.tool.output([kind, 'list'], CLI_TIMEOUT_MS);
      guests.push(...parseList(kind, out));
    }
    return guests;
  }

  async shutdown(g: Guest, graceMs: number): Promise<StopAttempt> {
    const seconds = Math.max(1, Math.floor(graceMs / 1000));
    const r = await this.tool.exec(
      [g.kind, 'shutdown', g.id, '--timeout', String(seconds)],
      graceMs + CLI_TIMEOUT_MS,
    );
    if (succeeded(r)) return { off: true };
    return (await this.isRunning(g)) ? { off: false, error: failure(r) } : { off: true };
  }

  async force(g: Guest): Promise<StopAttempt> {
    const r = await this.tool.exec([g.kind, 'stop', g.id], CLI_TIMEOUT_MS);
    if (succeeded(r) || !(await this.isRunning(g))) return { off: true };
    return { off: false, error: failure(r) };
  }

  async start(g: Guest): Promise<{ ok: boolean; error?: string }> {
    const r = await this.tool.exec([g.kind, 'start', g.id], CLI_TIMEOUT_MS);
    return succeeded(r) ? { ok: true } : { ok: false, error: failure(r) };
  }

  private async isRunning(g: Guest): Promise<boolean> {
    const r = await this.tool.exec([g.kind, 'status', g.id], CLI_TIMEOUT_MS);
    return succeeded(r) ? /status:\s*running/.test(r.stdout) : true;
  }
}

/**
 * The running guests of `qm list` (VMID NAME STATUS MEM BOOTDISK PID) or `pct list` (VMID Status Lock
 * Name, Lock often empty).
 */
export function parseList(kind: 'qm' | 'pct', out: string): Guest[] {
  const guests: Guest[] = [];
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const id = cols[0] ?? '';
    if (!/^\d+$/.test(id)) continue; // the header, blank lines
    const status = kind === 'qm' ? cols[2] : cols[1];
    if (status !== 'running') continue;
    const name = (kind === 'qm' ? cols[1] : cols.length > 2 ? cols.at(-1) : undefined) ?? id;
    guests.push({ id, name, kind });
  }
  return guests;
}
