/**
 * The master's key and self-signed certificate, made with node:crypto alone (ECDSA P-256, SHA-256):
 * the TBSCertificate is DER-encoded here and signed by crypto.sign. No X.509 library is needed for this
 * one shape of certificate; node's X509Certificate parses the result (a test checks it and a TLS handshake).
 */
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString,
  boolean,
  explicit,
  octetString,
  oid,
  sequence,
  set,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './der.js';

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));

export interface SelfSignedOptions {
  commonName: string;
  /** DNS names and IP addresses for subjectAltName (an agent checking with `ca` verifies one of them). */
  altNames: string[];
  /** Validity in days from now (default 20 years: a pinned certificate is rotated on purpose, not by expiry). */
  days?: number;
  now?: Date;
}

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.concat(
    groups.map((g) => Buffer.from([(parseInt(g, 16) >> 8) & 0xff, parseInt(g, 16) & 0xff])),
  );
}

function subjectAltName(names: string[]): Buffer {
  const general = names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));
  return sequence(oid('2.5.29.17'), octetString(sequence(...general)));
}

export function createSelfSigned(opts: SelfSignedOptions): KeyAndCert {
  const now = opts.now ?? new Date();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8String(opts.commonName))));
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + (opts.days ?? 7300) * 86_400_000);
  const extensions = [
    // basicConstraints: not a CA (critical)
    sequence(oid('2.5.29.19'), boolean(true), octetString(sequence())),
    // keyUsage: digitalSignature (critical)
    sequence(oid('2.5.29.15'), boolean(true), octetString(tlv(0x03, Buffer.from([0x07, 0x80])))),
    // extendedKeyUsage: serverAuth
    sequence(oid('2.5.29.37'), octetString(sequence(oid('1.3.6.1.5.5.7.3.1')))),
    ...(opts.altNames.length > 0 ? [subjectAltName(opts.altNames)] : []),
  ];
  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(certPem); // throws if the encoding is wrong
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem };
}
