/** Test helpers for the NUT server: a server on 127.0.0.1:0 over a hand-fed hub, and a raw line client. */
import { connect, type Socket } from 'node:net';
import { FleetRegistry, type MemberInfo } from '../../../master/fleet/registry.js';
import { NutServer } from '../../../master/nut/server/nut-server.js';
import type { Source, SourceListener, WritableVariable } from '../../../master/sources/source.js';
import { StateHub } from '../../../master/state/state-hub.js';
import { ManualClock } from '../../../shared/clock.js';
import type { NutServerConfigT } from '../../../shared/config/nut-server-schema.js';
import { UpsfleetError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';

export const USERS: NonNullable<NutServerConfigT['users']> = [
  { name: 'admin', password: 'adminpass', actions: ['set', 'fsd'], instcmds: ['all'] },
  { name: 'cmduser', password: 'cmdpass', instcmds: ['beeper.toggle'] },
  { name: 'primary', password: 'primarypass', upsmon: 'primary' },
  // sha256("naspass")
  {
    name: 'nas',
    passwordHash: 'sha256:c3f717eeeb9ce597197393c1c351481abe90eef2f1bdb63472301ba6ac358bc1',
    upsmon: 'secondary',
    group: 'nas',
  },
  { name: 'web', password: 'webpass', upsmon: 'secondary', group: 'web' },
  { name: 'mon', password: 'monpass', upsmon: 'secondary' },
];

export class FakeSource implements Source {
  readonly kind = 'fake';
  readonly upsName = 'ups';
  calls: string[] = [];
  fail = false;
  async start(_l: SourceListener): Promise<void> {}
  async stop(): Promise<void> {}
  commands(): string[] {
    return ['shutdown.return', 'beeper.toggle', 'load.off.delay'];
  }
  writableVariables(): WritableVariable[] {
    return [
      { name: 'battery.charge.low', type: 'RANGE', range: { min: 5, max: 90 } },
      { name: 'ups.delay.shutdown', type: 'NUMBER' },
      { name: 'ups.beeper.status', type: 'ENUM', enum: ['enabled', 'disabled', 'muted'] },
      { name: 'ups.id', type: 'STRING' },
    ];
  }
  async instantCommand(name: string, param?: string): Promise<void> {
    this.calls.push(`INSTCMD ${name}${param === undefined ? '' : ` ${param}`}`);
    if (this.fail) throw new UpsfleetError('SOURCE_LOST', 'the UPS does not answer');
  }
  async setVariable(name: string, value: string): Promise<void> {
    this.calls.push(`SET ${name}=${value}`);
    if (this.fail) throw new UpsfleetError('SOURCE_LOST', 'the UPS does not answer');
  }
}

export const VARS = {
  'battery.charge': '100',
  'battery.charge.low': '20',
  'battery.runtime': '1800',
  'device.model': 'Smart "UPS" 1500 \\ rack',
  'ups.beeper.status': 'enabled',
  'ups.delay.shutdown': '20',
  'ups.id': 'rack #1',
  'ups.status': 'OL CHRG',
};

export interface Harness {
  server: NutServer;
  hub: StateHub;
  registry: FleetRegistry;
  source: FakeSource;
  clock: ManualClock;
  port: number;
  fsdCalls: Array<{ user: string; reason: string }>;
  events: string[];
  client(): Promise<LineClient>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { feed?: boolean; config?: Partial<NutServerConfigT> } = {},
): Promise<Harness> {
  const clock = new ManualClock();
  const hub = new StateHub('ups', clock);
  if (opts.feed !== false) hub.publishVars({ ...VARS });
  const registry = new FleetRegistry();
  const events: string[] = [];
  registry.subscribe({
    connected: (m: MemberInfo) => events.push(`connected ${m.id} ${m.group}`),
    disconnected: (m: MemberInfo) => events.push(`disconnected ${m.id}`),
  });
  const source = new FakeSource();
  const fsdCalls: Array<{ user: string; reason: string }> = [];
  const server = new NutServer({
    config: { listen: '127.0.0.1:0', users: USERS, ...opts.config },
    hub,
    registry,
    source,
    clock,
    logger: silentLogger(),
    onFsd: (user, reason) => fsdCalls.push({ user, reason }),
    description: 'Rack "A" UPS',
  });
  const { port } = await server.start();
  const clients: LineClient[] = [];
  return {
    server,
    hub,
    registry,
    source,
    clock,
    port,
    fsdCalls,
    events,
    async client() {
      const c = await LineClient.open(port);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await server.stop();
    },
  };
}

/** A raw protocol client: send lines, await reply lines one by one. */
export class LineClient {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiters: Array<(line: string | null) => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w(null);
        resolve();
      }),
    );
    socket.on('error', () => {});
  }

  static open(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  write(raw: string): void {
    this.socket.write(raw);
  }

  next(): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async cmd(line: string): Promise<string | null> {
    this.write(`${line}\n`);
    return this.next();
  }

  /** Sends a LIST command and collects every line through END LIST (or a single ERR). */
  async list(line: string): Promise<string[]> {
    this.write(`${line}\n`);
    const out: string[] = [];
    for (;;) {
      const l = await this.next();
      if (l === null) return out;
      out.push(l);
      if (l.startsWith('END LIST') || (out.length === 1 && l.startsWith('ERR '))) return out;
    }
  }

  async login(user: string, pass: string, ups = 'ups'): Promise<void> {
    for (const [c, expect] of [
      [`USERNAME ${user}`, 'OK'],
      [`PASSWORD ${pass}`, 'OK'],
      [`LOGIN ${ups}`, 'OK'],
    ] as const) {
      const r = await this.cmd(c);
      if (r !== expect) throw new Error(`${c} -> ${r}`);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Lets pending socket events run. */
export function tick(ms = 20): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick(10);
  }
}
