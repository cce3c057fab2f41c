/**
 * The `nut` source: the master reads an existing upsd. It polls LIST VAR (every pollInterval, faster
 * while on battery), publishes full snapshots, treats DATA-STALE, DRIVER-NOT-CONNECTED and a lost
 * connection as loss of communication (COMMBAD) and reconnects with backoff; instant commands and
 * writable variables go upstream as INSTCMD and SET VAR with the configured credentials.
 */
import { readFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import type { NutSourceConfigT } from '../../../shared/config/master-schema.js';
import { parseDuration } from '../../../shared/duration.js';
import { UpsfleetError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { hasStatus } from '../../../shared/nut/status.js';
import type { Source, SourceListener, WritableVariable } from '../../sources/source.js';
import { NutClient, nutErrorCode } from '../client/nut-client.js';
import { COMM_ERRORS, NutErr } from '../protocol/err-codes.js';

export type { NutSourceConfigT };

export const DEFAULT_NUT_POLL_MS = 2000;
export const DEFAULT_NUT_POLL_ON_BATTERY_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

export interface NutSourceOptions {
  config: NutSourceConfigT;
  /** The name the master serves this UPS under (NUT clients of the master use it). */
  upsName: string;
  clock: Clock;
  logger: Logger;
}

class NutSource implements Source {
  readonly kind = 'nut';
  readonly upsName: string;
  private readonly pollMs: number;
  private readonly pollOnBatteryMs: number;
  private readonly remote: string;
  private ca: string | undefined;
  private listener: SourceListener | undefined;
  private client: NutClient | undefined;
  private timer: TimerHandle | undefined;
  private stopped = true;
  private commOk = true;
  private failures = 0;
  private onBattery = false;
  private cmds: string[] = [];
  private writable: WritableVariable[] = [];
  private readonly log: Logger;

  constructor(private readonly opts: NutSourceOptions) {
    const c = opts.config;
    this.upsName = opts.upsName;
    this.pollMs =
      c.pollInterval === undefined
        ? DEFAULT_NUT_POLL_MS
        : parseDuration(c.pollInterval, 'ups.source.pollInterval');
    this.pollOnBatteryMs =
      c.pollIntervalOnBattery === undefined
        ? Math.min(DEFAULT_NUT_POLL_ON_BATTERY_MS, this.pollMs)
        : parseDuration(c.pollIntervalOnBattery, 'ups.source.pollIntervalOnBattery');
    this.remote = `${c.ups}@${c.host}:${c.port ?? 3493}`;
    this.log = opts.logger.child({ source: 'nut', upsd: this.remote });
  }

  async start(listener: SourceListener): Promise<void> {
    const c = this.opts.config;
    if (c.starttls && c.ca) {
      try {
        this.ca = readFileSync(c.ca, 'utf8');
      } catch (err) {
        throw new UpsfleetError(
          'CONFIG_INVALID',
          `ups.source.ca: cannot read ${c.ca}: ${(err as Error).message}`,
          { path: c.ca },
          { cause: err },
        );
      }
    }
    this.listener = listener;
    this.stopped = false;
    await this.cycle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  commands(): string[] {
    return [...this.cmds];
  }

  writableVariables(): WritableVariable[] {
    return this.writable.map((w) => ({ ...w }));
  }

  async instantCommand(name: string, param?: string): Promise<void> {
    const client = this.requireClient();
    try {
      await client.instantCommand(this.opts.config.ups, name, param);
      this.log.info({ command: name, param }, 'instant command accepted by upsd');
    } catch (err) {
      throw this.translate(err, `INSTCMD ${name}`);
    }
  }

  async setVariable(name: string, value: string): Promise<void> {
    const client = this.requireClient();
    try {
      await client.setVariable(this.opts.config.ups, name, value);
      this.log.info({ variable: name, value }, 'variable set by upsd');
    } catch (err) {
      throw this.translate(err, `SET VAR ${name}`);
    }
  }

  private requireClient(): NutClient {
    if (!this.client || this.client.closed) {
      throw new UpsfleetError('SOURCE_LOST', `not connected to upsd ${this.remote}`);
    }
    return this.client;
  }

  private translate(err: unknown, what: string): Error {
    const code = nutErrorCode(err);
    if (code === NutErr.CMD_NOT_SUPPORTED) {
      return new UpsfleetError('SOURCE_COMMAND_UNSUPPORTED', `upsd ${this.remote} does not support ${what}`, {
        nut: code,
      });
    }
    if (code === NutErr.READONLY || code === NutErr.VAR_NOT_SUPPORTED) {
      return new UpsfleetError('SOURCE_VARIABLE_READONLY', `upsd ${this.remote} refused ${what}: ${code}`, {
        nut: code,
      });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /** One poll (connecting first when needed), then the next one is scheduled. */
  private async cycle(): Promise<void> {
    if (this.stopped) return;
    let delay = this.onBattery ? this.pollOnBatteryMs : this.pollMs;
    try {
      if (!this.client || this.client.closed) await this.connect();
      const vars = await this.client!.listVars(this.opts.config.ups);
      this.failures = 0;
      this.onBattery = hasStatus(vars['ups.status'], 'OB');
      delay = this.onBattery ? this.pollOnBatteryMs : this.pollMs;
      this.markComm(true, 'upsd answers again');
      // upsd's placeholder before its driver's first data is not a state of the UPS
      if (vars['ups.status']?.trim() !== 'WAIT') this.listener?.update(vars);
    } catch (err) {
      const code = nutErrorCode(err);
      if (code !== undefined && (COMM_ERRORS.has(code) || code === NutErr.UNKNOWN_UPS)) {
        // upsd is there but has no usable data: keep the connection, keep polling
        this.markComm(false, `upsd answers ERR ${code}`);
      } else {
        this.failures++;
        this.markComm(false, err instanceof Error ? err.message : String(err));
        this.client?.destroy();
        this.client = undefined;
        delay = Math.min(MAX_BACKOFF_MS, this.pollMs * 2 ** Math.min(this.failures - 1, 10));
      }
    }
    if (this.stopped) return;
    this.timer = this.opts.clock.setTimer(delay, () => void this.cycle());
  }

  private async connect(): Promise<void> {
    const c = this.opts.config;
    const client = await NutClient.connect({
      host: c.host,
      port: c.port ?? 3493,
      clock: this.opts.clock,
      timeoutMs: Math.max(5000, this.pollMs * 3),
      ...(c.starttls
        ? { tls: { ...(this.ca !== undefined ? { ca: this.ca } : {}), servername: c.certName ?? c.host } }
        : {}),
    });
    try {
      if (c.username !== undefined) await client.authenticate(c.username, c.password ?? '');
      if (c.login ?? c.username !== undefined) {
        try {
          await client.login(c.ups);
        } catch (err) {
          if (nutErrorCode(err) === undefined) throw err;
          this.log.warn(
            { nut: nutErrorCode(err) },
            'upsd refused LOGIN (the user needs an upsmon role); reading without it',
          );
        }
      }
      this.cmds = await client.listCommands(c.ups).catch(() => this.cmds);
      this.writable = await client.listWritable(c.ups).catch(() => this.writable);
    } catch (err) {
      client.destroy();
      throw err;
    }
    if (this.stopped) {
      client.destroy();
      return;
    }
    this.client = client;
    this.log.info({ commands: this.cmds.length, writable: this.writable.length }, 'connected to upsd');
  }

  private markComm(ok: boolean, reason: string): void {
    if (ok === this.commOk) return;
    this.commOk = ok;
    if (ok) this.log.info({ reason }, 'communication with upsd restored');
    else this.log.warn({ reason }, 'communication with upsd lost');
    this.listener?.comm(ok, reason);
  }
}

export function createNutSource(opts: NutSourceOptions): Source {
  return new NutSource(opts);
}
