/**
 * A TCP relay that delays every chunk by a fixed time in each direction, keeping the order: a slow link for
 * tests on a kernel without sch_netem. Each accepted connection gets its own upstream connection, opened at
 * once. Bytes (and the end of a direction, and a reset) reach the other side `delayMs` after they arrived.
 * The TCP handshake itself is not delayed, so a connection costs the client one round trip less than on a
 * real slow link.
 *
 * As a module: `const relay = await startDelayRelay({ to: { host, port }, delayMs: 5000 })`, then `relay.port`
 * and `await relay.stop()`.
 * As a script (e.g. inside a network namespace with `ip netns exec NS`):
 *   node --import tsx test/support/delay-relay.ts --listen HOST:PORT --to HOST:PORT --delay-ms N
 * prints `{"port":N}` on stdout once it listens and runs until SIGTERM or SIGINT.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface DelayRelayOptions {
  /** Where to listen (default 127.0.0.1, port 0: a free port). */
  listen?: { host?: string; port?: number };
  /** Where each connection is relayed to; a function is asked at each connection (a target known later). */
  to: { host: string; port: number } | (() => { host: string; port: number });
  /** Delay in each direction, in ms. */
  delayMs: number;
  /** Override the delay of one direction: client to server (up) or server to client (down). */
  upDelayMs?: number;
  downDelayMs?: number;
}

export interface DelayRelay {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Stops listening and cuts every relayed connection. */
  stop(): Promise<void>;
}

/** What leaves one side: data, its end (half-close), or a reset. */
type ItemBody = { data: Buffer } | { end: true } | { reset: true };
type Item = ItemBody & { at: number };

/** Carries one direction: items leave in arrival order, each `delayMs` after it arrived. */
class DelayedPipe {
  private readonly queue: Item[] = [];
  private timer: NodeJS.Timeout | null = null;
  private done = false;

  constructor(
    private readonly to: Socket,
    private readonly delayMs: number,
  ) {}

  push(item: ItemBody): void {
    if (this.done) return;
    this.queue.push({ ...item, at: Date.now() + this.delayMs });
    this.schedule();
  }

  cancel(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0]!.at - Date.now()));
  }

  private flush(): void {
    this.timer = null;
    while (this.queue.length > 0 && this.queue[0]!.at <= Date.now()) {
      const item = this.queue.shift()!;
      if (this.to.destroyed) {
        this.cancel();
        return;
      }
      if ('data' in item) this.to.write(item.data);
      else if ('end' in item) this.to.end();
      else {
        this.to.resetAndDestroy();
        this.cancel();
        return;
      }
    }
    this.schedule();
  }
}

export function startDelayRelay(opts: DelayRelayOptions): Promise<DelayRelay> {
  const sockets = new Set<Socket>();
  const pipes = new Set<DelayedPipe>();
  let connections = 0;
  const up = opts.upDelayMs ?? opts.delayMs;
  const down = opts.downDelayMs ?? opts.delayMs;

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const to = typeof opts.to === 'function' ? opts.to() : opts.to;
    const upstream = connect({ host: to.host, port: to.port, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.once('close', () => sockets.delete(s));
    }
    const toServer = new DelayedPipe(upstream, up);
    const toClient = new DelayedPipe(client, down);
    pipes.add(toServer);
    pipes.add(toClient);
    const wire = (from: Socket, pipe: DelayedPipe) => {
      from.on('data', (data: Buffer) => pipe.push({ data }));
      from.on('end', () => pipe.push({ end: true }));
      // a reset or an error travels like the data before it: after the delay
      from.on('error', () => pipe.push({ reset: true }));
      from.on('close', (hadError) => {
        if (hadError) pipe.push({ reset: true });
      });
    };
    wire(client, toServer);
    wire(upstream, toClient);
    const cleanup = () => {
      if (client.destroyed && upstream.destroyed) {
        pipes.delete(toServer);
        pipes.delete(toClient);
      }
    };
    client.once('close', cleanup);
    upstream.once('close', cleanup);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen?.port ?? 0, opts.listen?.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      resolve({
        host: addr.address,
        port: addr.port,
        get connections() {
          return connections;
        },
        stop: () =>
          new Promise<void>((done) => {
            for (const p of pipes) p.cancel();
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

function hostPort(value: string | undefined, flag: string): { host: string; port: number } {
  const m = value ? /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value) : null;
  if (!m) throw new Error(`${flag} wants HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function main(argv: string[]): Promise<void> {
  const arg = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const delay = Number(arg('--delay-ms'));
  if (!Number.isFinite(delay) || delay < 0) throw new Error('--delay-ms wants a number of milliseconds');
  const relay = await startDelayRelay({
    listen: hostPort(arg('--listen') ?? '127.0.0.1:0', '--listen'),
    to: hostPort(arg('--to'), '--to'),
    delayMs: delay,
  });
  process.stdout.write(`${JSON.stringify({ port: relay.port })}\n`);
  const stop = () => void relay.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`delay-relay: ${(err as Error).message}\n`);
    process.exit(2);
  });
}
