/**
 * A TCP relay on 127.0.0.1 that a test can cut and heal like a dead switch: while cut, every established
 * connection goes silent both ways (nothing is read, so nothing is forwarded and no close passes either:
 * the peers see no FIN, as behind a partition) and new connections are refused at once (a reset, as a
 * router answers for a host it cannot reach). Heal resumes the held connections where they were.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export class PartitionRelay {
  private readonly pairs = new Set<[Socket, Socket]>();
  private cutNow = false;
  /** Connections refused while cut (each is one failed attempt of a client). */
  refused = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: () => number,
  ) {}

  /** Listens on a port of its own; `target` gives the port to relay to (read at each connection). */
  static async start(target: () => number): Promise<PartitionRelay> {
    let relay: PartitionRelay | null = null;
    const server = createServer({ pauseOnConnect: true }, (c) => relay?.accept(c));
    relay = new PartitionRelay(server, target);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return relay;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.cutNow = true;
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  heal(): void {
    this.cutNow = false;
    for (const [a, b] of this.pairs) {
      a.resume();
      b.resume();
    }
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(client: Socket): void {
    client.on('error', () => {});
    if (this.cutNow) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.target(), '127.0.0.1');
    upstream.on('error', () => {});
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (d: Buffer) => {
        if (!to.write(d)) {
          from.pause();
          to.once('drain', () => {
            if (!this.cutNow) from.resume();
          });
        }
      });
      from.on('end', () => to.end());
      from.on('close', () => {
        to.destroy();
        this.pairs.delete(pair);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    upstream.once('connect', () => {
      if (!this.cutNow) client.resume();
    });
    if (this.cutNow) upstream.pause();
  }
}
