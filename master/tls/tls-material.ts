/**
 * The master's TLS material at start: the configured (or `upsfleet keygen`) certificate and key, checked
 * to belong together. Without them the master serves plain HTTP/WS only on a loopback address (with a
 * warning); any other address refuses to start. Nothing turns TLS off silently.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { MasterSettings } from '../../shared/config/master-settings.js';
import { UpsfleetError } from '../../shared/errors.js';
import { isLoopbackHost } from '../../shared/net/loopback.js';
import { fingerprintForHumans, fingerprintOfDer } from '../../shared/tls/fingerprint.js';

export interface TlsMaterial {
  keyPem: string;
  certPem: string;
  /** `sha256:<hex>` of the leaf certificate: what agents pin. */
  fingerprint: string;
  certFile: string;
}

export function readTlsMaterial(certFile: string, keyFile: string): TlsMaterial {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certFile, 'utf8');
    keyPem = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new UpsfleetError(
      'TLS_MATERIAL',
      `cannot read the TLS certificate or key: ${(err as Error).message}`,
      { certFile, keyFile },
      { cause: err },
    );
  }
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      throw new Error(`${keyFile} is not the key of ${certFile}`);
    }
    return { keyPem, certPem, fingerprint: fingerprintOfDer(cert.raw), certFile };
  } catch (err) {
    throw new UpsfleetError(
      'TLS_MATERIAL',
      `invalid TLS certificate or key: ${(err as Error).message}`,
      { certFile, keyFile },
      { cause: err },
    );
  }
}

/** The material to serve with, or null for plain HTTP/WS (loopback only). */
export function resolveTlsMaterial(
  settings: Pick<MasterSettings, 'tls' | 'listen' | 'file'>,
  logger: Logger,
): TlsMaterial | null {
  const { tls, listen } = settings;
  const loopback = isLoopbackHost(listen.host);
  if (tls.insecure) {
    if (!loopback) {
      throw new UpsfleetError(
        'LISTEN_INSECURE',
        `master.tls.insecure is allowed on a loopback listen address only, not ${listen.host}`,
        { host: listen.host },
      );
    }
    logger.warn(
      { host: listen.host, port: listen.port },
      'TLS is off (master.tls.insecure): plain HTTP and WebSocket on loopback only',
    );
    return null;
  }
  if (tls.explicit || (existsSync(tls.certFile) && existsSync(tls.keyFile))) {
    const material = readTlsMaterial(tls.certFile, tls.keyFile);
    logger.info(
      {
        certFile: tls.certFile,
        fingerprint: material.fingerprint,
        openssl: fingerprintForHumans(material.fingerprint),
      },
      'TLS on: agents pin this fingerprint',
    );
    return material;
  }
  if (!loopback) {
    throw new UpsfleetError(
      'LISTEN_INSECURE',
      `master.listen ${listen.host}:${listen.port} is not a loopback address and there is no TLS certificate; run \`upsfleet keygen -c ${settings.file}\` (or set master.tls.cert/key)`,
      { host: listen.host, port: listen.port, certFile: tls.certFile },
    );
  }
  logger.warn(
    { host: listen.host, port: listen.port, certFile: tls.certFile },
    `no TLS certificate: plain HTTP and WebSocket on loopback only; run \`upsfleet keygen -c ${settings.file}\` to turn TLS on`,
  );
  return null;
}
