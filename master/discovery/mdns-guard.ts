/**
 * Catches what bonjour-service and multicast-dns would throw from their timers. multicast-dns rescans the
 * network interfaces every 5 s with os.networkInterfaces(), which needs a descriptor: at the fd limit it
 * threw EMFILE out of the interval, an uncaught exception that ended the master. bonjour-service builds its
 * A/AAAA records the same way when it announces (a timer after probing), and multicast-dns emits 'error'
 * with no listener (thrown) when its UDP socket cannot be made. Here each becomes a call to `onFailure`;
 * the library's own 5 s interval retries the scan, the advertiser retries the rest.
 */
import type { EventEmitter } from 'node:events';
import type { Bonjour, Service } from 'bonjour-service';

export type MdnsFailureSite = 'interfaces' | 'records' | 'socket';

export interface MdnsGuardHandlers {
  onFailure: (where: MdnsFailureSite, err: unknown) => void;
  /** The interface scan works again after failing. */
  onRecovered: (where: MdnsFailureSite) => void;
  /** multicast-dns's 'warning' (a membership it could not add, a packet it could not send or decode). */
  onWarning: (err: unknown) => void;
  /** The UDP socket is bound: advertising works. */
  onReady: () => void;
}

/** multicast-dns's instance, as bonjour-service keeps it (not in its types). */
interface MulticastDns extends EventEmitter {
  update: () => void;
}

/**
 * Wraps the interface scan and listens for the socket's errors. Call it right after `new Bonjour()`: the
 * library reads `update` when its socket starts listening, which is always later (bind is asynchronous).
 */
export function guardMdns(bonjour: Bonjour, handlers: MdnsGuardHandlers): void {
  const mdns = (bonjour as unknown as { server: { mdns: MulticastDns } }).server.mdns;
  const update = mdns.update;
  let failing = false;
  mdns.update = () => {
    try {
      update();
    } catch (err) {
      failing = true;
      handlers.onFailure('interfaces', err);
      return;
    }
    if (failing) {
      failing = false;
      handlers.onRecovered('interfaces');
    }
  };
  mdns.on('error', (err: unknown) => handlers.onFailure('socket', err));
  mdns.once('ready', () => handlers.onReady());
  mdns.on('warning', (err: unknown) => handlers.onWarning(err));
}

/**
 * Makes a published service's records() (which enumerates the interfaces for A/AAAA) never throw: the
 * last records built are used instead, none before the first; `onFailure` says so. Builds them once now,
 * while descriptors are there, so an announce at the limit still has addresses; false when it could not.
 */
export function guardRecords(service: Service, onFailure: (err: unknown) => void): boolean {
  const build = service.records.bind(service);
  let last: ReturnType<Service['records']> | null = null;
  try {
    last = build();
  } catch (err) {
    onFailure(err);
  }
  // copies: bonjour-service sets ttl 0 on the records it is given for a goodbye
  service.records = () => {
    try {
      last = build();
    } catch (err) {
      onFailure(err);
    }
    return (last ?? []).map((r) => ({ ...r }));
  };
  return last !== null;
}
