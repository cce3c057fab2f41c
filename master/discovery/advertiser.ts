/**
 * mDNS/DNS-SD advertising of the master: `_upsfleet._tcp` on the agent port with TXT `v` (protocol
 * version), `id` (master id) and `fp` (the first 16 hex digits of the certificate fingerprint, a hint
 * only: agents trust nothing but their pin), and `_nut._tcp` when the NUT server is on.
 * Pure JavaScript (bonjour-service over multicast-dns): no avahi-daemon or D-Bus needed.
 */
import { Bonjour, type Service } from 'bonjour-service';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import { fingerprintHint } from '../../shared/tls/fingerprint.js';

export const UPSFLEET_SERVICE = 'upsfleet';

export interface AdvertiserOptions {
  masterId: string;
  port: number;
  fingerprint: string;
  nutPort?: number;
  logger: Logger;
  /** multicast-dns options (tests: interface). */
  mdns?: Record<string, unknown>;
}

export class Advertiser {
  private bonjour: Bonjour | null = null;
  private readonly services: Service[] = [];

  constructor(private readonly opts: AdvertiserOptions) {}

  start(): void {
    const { masterId, port, fingerprint, nutPort, logger } = this.opts;
    this.bonjour = new Bonjour(this.opts.mdns ?? {}, (err: unknown) =>
      logger.warn({ err, code: 'DISCOVERY_FAILED' }, 'mDNS advertising failed'),
    );
    const txt = { v: String(PROTOCOL_VERSION), id: masterId, fp: fingerprintHint(fingerprint), tls: '1' };
    this.services.push(
      this.bonjour.publish({ name: `upsfleet ${masterId}`, type: UPSFLEET_SERVICE, port, txt }),
    );
    if (nutPort !== undefined) {
      this.services.push(
        this.bonjour.publish({ name: `upsfleet ${masterId} NUT`, type: 'nut', port: nutPort }),
      );
    }
    for (const s of this.services)
      s.on('error', (err: unknown) => logger.warn({ err, code: 'DISCOVERY_FAILED' }, 'mDNS service error'));
    logger.info({ service: '_upsfleet._tcp', port, txt, nut: nutPort ?? null }, 'advertising over mDNS');
  }

  async stop(): Promise<void> {
    const b = this.bonjour;
    this.bonjour = null;
    if (!b) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      b.unpublishAll(() => {
        clearTimeout(t);
        resolve();
      });
    });
    b.destroy();
  }
}
