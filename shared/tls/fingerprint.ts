/**
 * Certificate fingerprints: SHA-256 over the DER certificate, written `sha256:` + 64 lowercase hex
 * (the form `upsfleet keygen` prints and `master.fingerprint` takes). Colon-separated or upper-case
 * hex, as browsers and `openssl x509 -fingerprint -sha256` print it, is accepted too.
 */
import { createHash, X509Certificate } from 'node:crypto';

const HEX64 = /^[0-9a-f]{64}$/;

/** The canonical form of a fingerprint as written by a user, or null when it is not one. */
export function normalizeFingerprint(text: string): string | null {
  const hex = text
    .trim()
    .replace(/^sha-?256[:=/ ]?/i, '')
    .replace(/[:\s]/g, '')
    .toLowerCase();
  return HEX64.test(hex) ? `sha256:${hex}` : null;
}

export function fingerprintOfDer(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

export function fingerprintOfPem(pem: string | Buffer): string {
  return fingerprintOfDer(new X509Certificate(pem).raw);
}

/** The first 16 hex digits: enough to tell masters apart in an mDNS TXT record (a hint, never trusted). */
export function fingerprintHint(fingerprint: string): string {
  return fingerprint.replace(/^sha256:/, '').slice(0, 16);
}

/** Colon-separated upper-case, as `openssl x509 -fingerprint -sha256` shows it (for humans comparing). */
export function fingerprintForHumans(fingerprint: string): string {
  return (
    fingerprint
      .replace(/^sha256:/, '')
      .toUpperCase()
      .match(/../g) ?? []
  ).join(':');
}
