/**
 * Finding the master over mDNS/DNS-SD (`master: { auto: true }`): browses `_upsfleet._tcp` and offers
 * `wss://address:port/ws` candidates to the master connection. mDNS is only a hint: an advertisement
 * whose TXT fingerprint hint does not match the pin is ignored and logged, and a master that passes the
 * hint but presents another certificate is refused by the TLS pin check and then ignored (logged) too.
 */
// loaded only when discovery starts: an agent with a configured URL never pays for the mDNS stack
import type { Bonjour, Service } from 'bonjour-service';
import type { Logger } from '../shared/logger.js';
import { fingerprintHint } from '../shared/tls/fingerprint.js';

export interface DiscoveryOptions {
  /** Pinned fingerprints (`sha256:<hex>`); empty when the agent verifies with a CA instead. */
  fingerprints: readonly string[];
  logger: Logger;
  /** multicast-dns options (tests). */
  mdns?: Record<string, unknown>;
  /** How long a master refused by the pin stays ignored (default 10 min). */
  ignoreMs?: number;
}

export class Discovery {
  private bonjour: Bonjour | null = null;
  private readonly found = new Map<string, { url: string; name: string }>();
  private readonly ignored = new Map<string, number>();
  private readonly loggedHints = new Set<string>();
  private stopped = false;

  constructor(private readonly opts: DiscoveryOptions) {}

  start(): void {
    this.stopped = false;
    import('bonjour-service').then(
      ({ Bonjour }) => this.browse(Bonjour),
      (err: unknown) =>
        this.opts.logger.warn({ err, code: 'DISCOVERY_FAILED' }, 'mDNS browsing could not start'),
    );
  }

  private browse(BonjourClass: typeof Bonjour): void {
    if (this.stopped || this.bonjour) return;
    const log = this.opts.logger;
    this.bonjour = new BonjourClass(this.opts.mdns ?? {}, (err: unknown) =>
      log.warn({ err, code: 'DISCOVERY_FAILED' }, 'mDNS browsing failed'),
    );
    const browser = this.bonjour.find({ type: 'upsfleet' });
    browser.on('up', (s: Service) => this.onUp(s));
    browser.on('down', (s: Service) => {
      for (const [url, f] of this.found) if (f.name === s.name) this.found.delete(url);
    });
    log.info({ service: '_upsfleet._tcp' }, 'looking for the master over mDNS');
  }

  /** Candidate URLs now (trusted hints, not refused recently), for the master connection. */
  urls(): string[] {
    const now = Date.now();
    return [...this.found.keys()].filter((u) => (this.ignored.get(u) ?? 0) <= now);
  }

  /** The connection refused this URL's certificate: ignore it for a while. */
  refused(url: string, presented: string): void {
    if (!this.found.has(url)) return;
    this.ignored.set(url, Date.now() + (this.opts.ignoreMs ?? 600_000));
    this.opts.logger.warn(
      { url, presented, pinned: this.opts.fingerprints, code: 'TLS_PIN_MISMATCH' },
      'ignoring a master found over mDNS: its certificate does not match the pin',
    );
  }

  stop(): void {
    this.stopped = true;
    this.bonjour?.destroy();
    this.bonjour = null;
  }

  private onUp(s: Service): void {
    const log = this.opts.logger;
    const txt = (s.txt ?? {}) as Record<string, unknown>;
    const hint = typeof txt.fp === 'string' ? txt.fp.toLowerCase() : '';
    const hints = this.opts.fingerprints.map(fingerprintHint);
    const addresses = [...(s.addresses ?? []), ...(s.referer?.address ? [s.referer.address] : [])];
    if (hints.length > 0 && !hints.includes(hint)) {
      const key = `${s.name}|${hint}|${addresses.join(',')}`;
      if (!this.loggedHints.has(key)) {
        this.loggedHints.add(key);
        log.warn(
          {
            name: s.name,
            masterId: txt.id,
            addresses,
            port: s.port,
            advertisedHint: hint,
            pinnedHints: hints,
            code: 'TLS_PIN_MISMATCH',
          },
          'ignoring a master advertised over mDNS with another certificate',
        );
      }
      return;
    }
    // IPv4 first; link-local IPv6 would need a zone the record does not carry
    const usable = [...new Set(addresses)]
      .filter((a) => !a.toLowerCase().startsWith('fe80:'))
      .sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
    for (const a of usable) {
      const url = `wss://${a.includes(':') ? `[${a}]` : a}:${s.port}/ws`;
      if (!this.found.has(url)) {
        this.found.set(url, { url, name: s.name });
        log.info(
          { url, name: s.name, masterId: txt.id },
          'master found over mDNS (its certificate is checked against the pin)',
        );
      }
    }
  }
}
