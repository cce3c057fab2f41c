/**
 * A client of the upsd network protocol: one TCP connection (optionally upgraded with STARTTLS and a
 * verified certificate), requests answered strictly in order, `ERR <code>` replies raised as NUT_ERROR
 * with the code in `details.nut`. Used by the `nut` source and by `upsfleet status ups@host`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type Clock, systemClock } from '../../../shared/clock.js';
import { UpsfleetError } from '../../../shared/errors.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import type { WritableVariable } from '../../sources/source.js';
import { encodeLine } from '../protocol/encode.js';
import { LineSplitter } from '../protocol/line-splitter.js';
import { tokenizeLine } from '../protocol/tokenize.js';

export const NUT_DEFAULT_PORT = 3493;
const MAX_REPLY_LINE = 64 * 1024;

export interface NutClientOptions {
  host: string;
  port?: number;
  /** Per-request (and connect) timeout; default 10 s. */
  timeoutMs?: number;
  clock?: Clock;
  /** Upgrade with STARTTLS before anything else and verify the server's certificate. */
  tls?: {
    /** PEM CA bundle; default: the system's trusted CAs. */
    ca?: string | Buffer;
    /** Name expected in the certificate; default the host. */
    servername?: string;
  };
}

interface Pending {
  list: boolean;
  lines: string[];
  resolve(lines: string[]): void;
  reject(err: Error): void;
}

/** The NUT error code of a NUT_ERROR, or undefined for any other error. */
export function nutErrorCode(err: unknown): string | undefined {
  if (err instanceof UpsfleetError && err.code === 'NUT_ERROR') return err.details.nut as string;
  return undefined;
}

export class NutClient {
  private socket: Socket | TLSSocket;
  private readonly pending: Pending[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private closedErr: Error | null = null;
  private readonly closeListeners: Array<(err: Error) => void> = [];

  private constructor(
    socket: Socket,
    private readonly opts: NutClientOptions,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Connects (and upgrades to TLS when asked). Rejects with SOURCE_LOST when the server cannot be reached. */
  static async connect(opts: NutClientOptions): Promise<NutClient> {
    const port = opts.port ?? NUT_DEFAULT_PORT;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: opts.host, port });
      const timer = (opts.clock ?? systemClock).setTimer(opts.timeoutMs ?? 10_000, () => {
        s.destroy();
        reject(
          new UpsfleetError(
            'SOURCE_LOST',
            `NUT server ${opts.host}:${port} did not accept a connection in time`,
          ),
        );
      });
      s.once('connect', () => {
        timer.cancel();
        resolve(s);
      });
      s.once('error', (err) => {
        timer.cancel();
        reject(
          new UpsfleetError(
            'SOURCE_LOST',
            `cannot connect to NUT server ${opts.host}:${port}: ${err.message}`,
            {},
            { cause: err },
          ),
        );
      });
    });
    const client = new NutClient(socket, opts);
    if (opts.tls) await client.startTls(opts.tls);
    return client;
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  /** Called once when the connection ends for any reason. */
  onClose(fn: (err: Error) => void): void {
    this.closeListeners.push(fn);
  }

  /** Sends one command and returns its one reply line; ERR replies reject with NUT_ERROR. */
  async request(words: readonly string[]): Promise<string> {
    const [line] = await this.send(words, false);
    return line!;
  }

  /** Sends `LIST <query…>` and returns the tokenized lines between BEGIN LIST and END LIST. */
  async list(query: readonly string[]): Promise<string[][]> {
    const lines = await this.send(['LIST', ...query], true);
    return lines.map((l) => tokenizeLine(l) ?? []);
  }

  async authenticate(username: string, password: string): Promise<void> {
    await this.request(['USERNAME', username]);
    await this.request(['PASSWORD', password]);
  }

  async login(ups: string): Promise<void> {
    await this.request(['LOGIN', ups]);
  }

  async getVar(ups: string, name: string): Promise<string> {
    const words = tokenizeLine(await this.request(['GET', 'VAR', ups, name])) ?? [];
    return words[3] ?? '';
  }

  async listVars(ups: string): Promise<UpsVars> {
    const vars: UpsVars = {};
    for (const w of await this.list(['VAR', ups]))
      if (w[0] === 'VAR' && w[2] !== undefined) vars[w[2]] = w[3] ?? '';
    return vars;
  }

  async listUps(): Promise<Array<{ name: string; description: string }>> {
    return (await this.list(['UPS']))
      .filter((w) => w[0] === 'UPS')
      .map((w) => ({ name: w[1]!, description: w[2] ?? '' }));
  }

  async listCommands(ups: string): Promise<string[]> {
    return (await this.list(['CMD', ups])).filter((w) => w[0] === 'CMD' && w[2]).map((w) => w[2]!);
  }

  /** Writable variables with their type, enumeration or range (LIST RW, GET TYPE, LIST ENUM/RANGE). */
  async listWritable(ups: string): Promise<WritableVariable[]> {
    const names = (await this.list(['RW', ups])).filter((w) => w[0] === 'RW' && w[2]).map((w) => w[2]!);
    const out: WritableVariable[] = [];
    for (const name of names) {
      const type = (tokenizeLine(await this.request(['GET', 'TYPE', ups, name])) ?? []).slice(3);
      if (type.includes('ENUM')) {
        const values = (await this.list(['ENUM', ups, name]))
          .filter((w) => w[0] === 'ENUM')
          .map((w) => w[3] ?? '');
        out.push({ name, type: 'ENUM', enum: values });
      } else if (type.includes('RANGE')) {
        const r = (await this.list(['RANGE', ups, name])).find((w) => w[0] === 'RANGE');
        const min = Number(r?.[3]);
        const max = Number(r?.[4]);
        out.push(
          Number.isFinite(min) && Number.isFinite(max)
            ? { name, type: 'RANGE', range: { min, max } }
            : { name, type: 'RANGE' },
        );
      } else if (type.includes('NUMBER')) out.push({ name, type: 'NUMBER' });
      else out.push({ name, type: 'STRING' });
    }
    return out;
  }

  async instantCommand(ups: string, cmd: string, param?: string): Promise<void> {
    await this.request(param === undefined ? ['INSTCMD', ups, cmd] : ['INSTCMD', ups, cmd, param]);
  }

  async setVariable(ups: string, name: string, value: string): Promise<void> {
    await this.request(['SET', 'VAR', ups, name, value]);
  }

  /** Polite close: LOGOUT, then the socket. Never rejects. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.request(['LOGOUT']);
    } catch {
      // already gone or not answering: just drop it
    }
    this.destroy();
  }

  destroy(): void {
    this.fail(new UpsfleetError('SOURCE_LOST', 'NUT connection closed'));
    this.socket.destroy();
  }

  private async startTls(tls: NonNullable<NutClientOptions['tls']>): Promise<void> {
    const reply = await this.request(['STARTTLS']);
    if (!reply.startsWith('OK')) throw new UpsfleetError('SOURCE_LOST', `STARTTLS refused: ${reply}`);
    const plain = this.socket as Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({
        socket: plain,
        servername: tls.servername ?? this.opts.host,
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        rejectUnauthorized: true,
      });
      s.once('secureConnect', () => resolve(s));
      s.once('error', (err) => {
        plain.destroy();
        reject(
          new UpsfleetError(
            'SOURCE_LOST',
            `TLS with the NUT server failed: ${err.message}`,
            {},
            { cause: err },
          ),
        );
      });
    });
    this.socket = secure;
    this.attach(secure);
  }

  private attach(socket: Socket | TLSSocket): void {
    const splitter = new LineSplitter(
      MAX_REPLY_LINE,
      (line) => this.onLine(line),
      () => this.fail(new UpsfleetError('SOURCE_LOST', 'NUT server sent an over-long line')),
    );
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => splitter.push(d));
    socket.on('error', (err) =>
      this.fail(new UpsfleetError('SOURCE_LOST', `NUT connection error: ${err.message}`, {}, { cause: err })),
    );
    socket.on('close', () => this.fail(new UpsfleetError('SOURCE_LOST', 'NUT server closed the connection')));
  }

  private send(words: readonly string[], list: boolean): Promise<string[]> {
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        if (this.closedErr) return reject(this.closedErr);
        const clock = this.opts.clock ?? systemClock;
        const timer = clock.setTimer(this.opts.timeoutMs ?? 10_000, () => {
          this.fail(new UpsfleetError('SOURCE_LOST', `NUT server did not answer ${words[0]} in time`));
          this.socket.destroy();
        });
        this.pending.push({
          list,
          lines: [],
          resolve: (l) => {
            timer.cancel();
            resolve(l);
          },
          reject: (e) => {
            timer.cancel();
            reject(e);
          },
        });
        this.socket.write(`${encodeLine(words)}\n`);
      });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private onLine(line: string): void {
    const head = this.pending[0];
    if (!head) return; // unsolicited: ignore
    if (line.startsWith('ERR ') || line === 'ERR') {
      if (head.list && head.lines.length > 0) {
        head.lines.push(line);
        return;
      }
      this.pending.shift();
      const code = line.slice(4).split(/\s+/)[0] || 'UNKNOWN';
      head.reject(
        new UpsfleetError('NUT_ERROR', `NUT server answered ERR ${code}`, { nut: code, reply: line }),
      );
      return;
    }
    if (!head.list) {
      this.pending.shift();
      head.resolve([line]);
      return;
    }
    if (head.lines.length === 0 && !line.startsWith('BEGIN LIST')) {
      this.pending.shift();
      head.reject(
        new UpsfleetError('NUT_ERROR', `unexpected reply to LIST: ${line}`, { nut: 'PROTOCOL', reply: line }),
      );
      return;
    }
    if (line.startsWith('END LIST')) {
      this.pending.shift();
      head.resolve(head.lines.slice(1));
      return;
    }
    head.lines.push(line);
  }

  private fail(err: Error): void {
    if (this.closedErr) return;
    this.closedErr = err;
    for (const p of this.pending.splice(0)) p.reject(err);
    for (const fn of this.closeListeners) fn(err);
  }
}
