/**
 * `-c FILE` for commands that talk to a master: the master's URL and certificate fingerprint read from a
 * configuration. A master configuration gives its own listen address (a wildcard becomes loopback) and the
 * fingerprint of its certificate file; an agent configuration its first master URL and pinned fingerprint.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { loadAgentSettings } from '../../shared/config/agent-settings.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { UpsfleetError } from '../../shared/errors.js';
import { fingerprintOfPem } from '../../shared/tls/fingerprint.js';
import { configKind } from './config-check.js';

export interface MasterTarget {
  url: string;
  /** Absent: plain http, or an agent configuration that trusts a CA instead of a pin. */
  fingerprint?: string;
}

const WILDCARD_TO_LOOPBACK: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '': '127.0.0.1' };

export function masterFromConfig(file: string): MasterTarget {
  if (configKind(file) === 'agent') {
    const s = loadAgentSettings(file);
    const url = s.masterUrls[0] ?? s.supplies?.find((x) => x.urls.length > 0)?.urls[0];
    if (!url)
      throw new UpsfleetError(
        'CONFIG_INVALID',
        `${file}: the master is found over mDNS (auto: true); give its URL with --master`,
      );
    const fingerprint = s.masterTls.fingerprints[0] ?? s.supplies?.[0]?.tls.fingerprints[0];
    return { url, ...(fingerprint ? { fingerprint } : {}) };
  }
  const s = loadMasterSettings(file);
  const host = WILDCARD_TO_LOOPBACK[s.listen.host] ?? s.listen.host;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  if (s.tls.insecure) return { url: `http://${hostPart}:${s.listen.port}` };
  let pem: string;
  try {
    pem = readFileSync(s.tls.certFile, 'utf8');
  } catch (err) {
    throw new UpsfleetError(
      'TLS_MATERIAL',
      `${file}: cannot read the master's certificate ${s.tls.certFile} for its fingerprint (${(err as Error).message})`,
    );
  }
  return { url: `https://${hostPart}:${s.listen.port}`, fingerprint: fingerprintOfPem(pem) };
}

/** The config the Debian package and the roles install on the master host; UPSFLEET_MASTER_CONFIG names another. */
const HOST_MASTER_CONFIG = '/etc/upsfleet/master.yaml';

/**
 * With no master named on the command line: on the master host its own configuration says where it listens
 * and which certificate it shows, so `upsfleet status` or `upsfleet drill` there needs no URL. Undefined when
 * there is no readable config, or it cannot name the master yet (no certificate before `init master`).
 */
export function hostMaster(): MasterTarget | undefined {
  const file = process.env.UPSFLEET_MASTER_CONFIG ?? HOST_MASTER_CONFIG;
  try {
    accessSync(file, constants.R_OK);
    return masterFromConfig(file);
  } catch {
    return undefined;
  }
}
