/**
 * mDNS/DNS-SD advertising of the master: `_upsfleet._tcp` on the agent port with TXT `v` (protocol
 * version), `id` (master id) and `fp` (the first 16 hex digits of the certificate fingerprint, a hint
 * only: agents trust nothing but their pin), and `_nut._tcp` when the NUT server is on.
 * Pure JavaScript (bonjour-service over multicast-dns): no avahi-daemon or D-Bus needed.
 *
 * Advertising is a convenience, never a reason to stop: a failure in the library (EMFILE at the fd
 * limit from its interface scan, a socket it cannot make) is logged rate-limited with counters
 * (mdns-guard.ts), and advertising starts over a little later when it cannot go on as it is.
 */
import { Bonjour, type Service, type ServiceConfig } from 'bonjour-service';
import type { Logger } from 'pino';
import { type Clock, systemClock, type TimerHandle } from '../../shared/clock.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import { fingerprintHint } from '../../shared/tls/fingerprint.js';
import { isFdExhaustion } from '../servers/fd-gate.js';
import { RefusalLog } from '../servers/refusal-log.js';
import { guardMdns, guardRecords } from './mdns-guard.js';

export const UPSFLEET_SERVICE = 'upsfleet';
/** Wait before advertising starts over after its socket or records could not be made. */
export const MDNS_RETRY_MS = 30_000;

export interface AdvertiserOptions {
  masterId: string;
  port: number;
  fingerprint: string;
  nutPort?: number;
  logger: Logger;
  /** multicast-dns options (tests: interface). */
  mdns?: Record<string, unknown>;
  /** Timers of the retry and the log's rate limit (default the system clock). */
  clock?: Clock;
  /** Wait before starting over (default MDNS_RETRY_MS). */
  retryMs?: number;
}

export class Advertiser {
  private bonjour: Bonjour | null = null;
  private services: Service[] = [];
  private readonly failures: RefusalLog;
  private retry: TimerHandle | null = null;
  private stopped = false;
  /** Times advertising started over. */
  private restarts = 0;

  constructor(private readonly opts: AdvertiserOptions) {
    this.failures = new RefusalLog(opts.logger, opts.clock ?? systemClock);
  }

  /** Failures so far by kind (mdns-interfaces, mdns-records, mdns-socket, mdns-respond, mdns-service). */
  failureCounts(): Record<string, number> {
    return this.failures.counts();
  }

  start(): void {
    const { port, nutPort, logger } = this.opts;
    this.stopped = false;
    if (!this.publish()) return;
    logger.info(
      { service: '_upsfleet._tcp', port, txt: this.txt(), nut: nutPort ?? null },
      'advertising over mDNS',
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    this.retry = null;
    await this.withdraw();
  }

  private txt(): Record<string, string> {
    const { masterId, fingerprint } = this.opts;
    return { v: String(PROTOCOL_VERSION), id: masterId, fp: fingerprintHint(fingerprint), tls: '1' };
  }

  /** Creates the responder and publishes the services; false (and a retry planned) when it could not. */
  private publish(): boolean {
    const { masterId, port, nutPort, logger } = this.opts;
    try {
      const bonjour = new Bonjour(this.opts.mdns ?? {}, (err: unknown) => this.failed('respond', err));
      this.bonjour = bonjour;
      guardMdns(bonjour, {
        onFailure: (where, err) => {
          this.failed(where, err);
          // a socket that could not be made stays unusable: start over (the interface scan retries itself)
          if (where === 'socket') this.retryLater();
        },
        onRecovered: (where) => logger.info({ where }, 'mDNS works again'),
        onWarning: (err) => logger.debug({ err }, 'mDNS warning'),
        onReady: () => {
          if (this.restarts > 0) logger.info({ restarts: this.restarts }, 'mDNS advertising again');
        },
      });
      const configs: ServiceConfig[] = [
        { name: `upsfleet ${masterId}`, type: UPSFLEET_SERVICE, port, txt: this.txt() },
      ];
      if (nutPort !== undefined)
        configs.push({ name: `upsfleet ${masterId} NUT`, type: 'nut', port: nutPort });
      let complete = true;
      for (const config of configs) {
        const service = bonjour.publish(config);
        this.services.push(service);
        if (!guardRecords(service, (err) => this.failed('records', err))) complete = false;
        service.on('error', (err: unknown) => this.failed('service', err));
      }
      // announced without its addresses: start over once descriptors are back
      if (!complete) this.retryLater();
      return true;
    } catch (err) {
      this.failed('start', err);
      this.retryLater();
      return false;
    }
  }

  /** Says goodbye (bounded by 1 s) and closes the socket. */
  private async withdraw(): Promise<void> {
    const b = this.bonjour;
    this.bonjour = null;
    this.services = [];
    if (!b) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      try {
        b.unpublishAll(() => {
          clearTimeout(t);
          resolve();
        });
      } catch (err) {
        this.failed('stop', err);
        clearTimeout(t);
        resolve();
      }
    });
    try {
      b.destroy();
    } catch (err) {
      // a socket that never bound cannot be closed twice: nothing is left to free
      this.opts.logger.debug({ err }, 'mDNS socket already closed');
    }
  }

  private retryLater(): void {
    if (this.stopped || this.retry) return;
    this.retry = (this.opts.clock ?? systemClock).setTimer(this.opts.retryMs ?? MDNS_RETRY_MS, () => {
      this.retry = null;
      void this.withdraw().then(() => {
        if (this.stopped) return;
        this.restarts++;
        this.publish();
      });
    });
  }

  private failed(where: string, err: unknown): void {
    const fdExhausted = isFdExhaustion(err);
    this.failures.note(
      `mdns-${where}`,
      { code: fdExhausted ? 'FD_EXHAUSTED' : 'DISCOVERY_FAILED', where, err },
      fdExhausted
        ? 'mDNS advertising failed: out of file descriptors; it is retried, the master goes on'
        : 'mDNS advertising failed; it is retried, the master goes on',
    );
  }
}
