/**
 * Docker and Podman containers (the same commands): `ps` lists the running ones by full ID and name,
 * `stop -t N ID` stops one (SIGTERM, SIGKILL after N seconds: the engine forces it itself, and an exit
 * code of 137 afterwards says it was killed), `kill ID` when even that did not end it, `start ID`.
 * Rootless: the ToolRunner runs each command as the configured user with its XDG_RUNTIME_DIR.
 */
import {
  failure,
  type Guest,
  type GuestDriver,
  type StopAttempt,
  succeeded,
  type ToolRunner,
} from './guest-driver.js';

const CLI_TIMEOUT_MS = 30_000;
/** Exit code of a process killed by SIGKILL (128 + 9). */
const KILLED = 137;

export class ContainerDriver implements GuestDriver {
  constructor(
    private readonly tool: ToolRunner,
    private readonly command: string,
    private readonly host?: string,
  ) {}

  private argv(...args: string[]): string[] {
    const engine = this.command;
    if (this.host === undefined) return [engine, ...args];
    // docker takes -H, podman --url (both accept the long form --host / --url respectively)
    const hostFlag = /podman$/.test(engine) ? '--url' : '--host';
    return [engine, hostFlag, this.host, ...args];
  }

  async list(): Promise<Guest[]> {
    const out = await this.tool.output(
      this.argv('ps', '--no-trunc', '--format', '{{.ID}}\t{{.Names}}'),
      CLI_TIMEOUT_MS,
    );
    return out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const [id = '', name = ''] = l.trim().split('\t');
        return { id, name: name.split(',')[0] || id.slice(0, 12), kind: 'container' };
      })
      .filter((g) => /^[0-9a-f]{12,64}$/.test(g.id));
  }

  async shutdown(g: Guest, graceMs: number): Promise<StopAttempt> {
    const seconds = Math.max(0, Math.floor(graceMs / 1000));
    // the engine kills it after `seconds`: give the command that long and some more
    const r = await this.tool.exec(this.argv('stop', '-t', String(seconds), g.id), graceMs + CLI_TIMEOUT_MS);
    if (!succeeded(r)) {
      if (!(await this.running(g))) return { off: true };
      return { off: false, error: failure(r) };
    }
    const exit = await this.tool.exec(
      this.argv('inspect', '--format', '{{.State.ExitCode}}', g.id),
      CLI_TIMEOUT_MS,
    );
    return { off: true, forced: succeeded(exit) && exit.stdout.trim() === String(KILLED) };
  }

  async force(g: Guest): Promise<StopAttempt> {
    const r = await this.tool.exec(this.argv('kill', g.id), CLI_TIMEOUT_MS);
    if (succeeded(r) || !(await this.running(g))) return { off: true };
    return { off: false, error: failure(r) };
  }

  async start(g: Guest): Promise<{ ok: boolean; error?: string }> {
    const r = await this.tool.exec(this.argv('start', g.id), CLI_TIMEOUT_MS);
    return succeeded(r) ? { ok: true } : { ok: false, error: failure(r) };
  }

  private async running(g: Guest): Promise<boolean> {
    const r = await this.tool.exec(
      this.argv('inspect', '--format', '{{.State.Running}}', g.id),
      CLI_TIMEOUT_MS,
    );
    // when the engine cannot say, it is not known to be off
    return succeeded(r) ? r.stdout.trim() === 'true' : true;
  }
}
