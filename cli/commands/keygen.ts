/**
 * `upsfleet keygen [-c master.yaml | --out DIR] [--name HOST]... [--force]`: creates the master's key and
 * self-signed certificate (where the master looks for them) and prints the SHA-256 fingerprint that agents
 * pin as `master.fingerprint`. `upsfleet init master` does the same and creates the empty tokens file.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultTlsFiles, loadMasterSettings } from '../../shared/config/master-settings.js';
import { fingerprintForHumans, fingerprintOfDer } from '../../shared/tls/fingerprint.js';
import { createSelfSigned } from '../../shared/tls/self-signed.js';
import { type CommandHandler, type CommandIo, ExitCodes } from './command.js';

export interface KeygenResult {
  certFile: string;
  keyFile: string;
  fingerprint: string;
}

/** Writes a new key (0600) and certificate; refuses to replace existing ones unless `force`. */
export function keygen(opts: {
  certFile: string;
  keyFile: string;
  names: string[];
  commonName: string;
  force: boolean;
}): KeygenResult {
  if (!opts.force && (existsSync(opts.certFile) || existsSync(opts.keyFile))) {
    throw Object.assign(
      new Error(
        `${opts.certFile} already exists; agents pin it. Use --force to replace it (see docs/SECURITY.md, key rotation)`,
      ),
      {
        code: 'EEXIST',
      },
    );
  }
  const host = hostname();
  const altNames = [
    ...new Set(['localhost', '127.0.0.1', '::1', host, `${host.split('.')[0]}.local`, ...opts.names]),
  ];
  const kc = createSelfSigned({ commonName: opts.commonName, altNames });
  mkdirSync(dirname(opts.keyFile), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(opts.certFile), { recursive: true });
  writeSecret(opts.keyFile, kc.keyPem);
  writeFileSync(opts.certFile, kc.certPem, { mode: 0o644 });
  return {
    certFile: opts.certFile,
    keyFile: opts.keyFile,
    fingerprint: fingerprintOfDer(new X509Certificate(kc.certPem).raw),
  };
}

/**
 * Writes a private key with mode 0600 whatever the mode of the file it replaces (writeFileSync's `mode`
 * applies only to a new file: `--force` over a 0644 key kept 0644 while printing 0600). A new file is
 * written beside it with 0600 and renamed over it; the mode is then checked, and fixed if a umask or an
 * odd filesystem had it otherwise.
 */
function writeSecret(path: string, text: string): void {
  const next = `${path}.${process.pid}.new`;
  writeFileSync(next, text, { mode: 0o600, flag: 'wx' });
  chmodSync(next, 0o600);
  renameSync(next, path);
  if ((statSync(path).mode & 0o777) !== 0o600) chmodSync(path, 0o600);
  const mode = statSync(path).mode & 0o777;
  if (mode !== 0o600)
    throw new Error(
      `${path} has mode 0${mode.toString(8)} after chmod 600: refusing to leave a readable key`,
    );
}

export function printFingerprint(io: CommandIo, r: KeygenResult): void {
  io.stdout(`certificate: ${r.certFile}\nkey:         ${r.keyFile} (mode 0600)\n`);
  io.stdout(`fingerprint: ${r.fingerprint}\n             (${fingerprintForHumans(r.fingerprint)})\n`);
  io.stdout(`Pin it in every agent config:\n  master:\n    fingerprint: ${r.fingerprint}\n`);
}

export function keygenTarget(values: { config?: string; out?: string }): {
  certFile: string;
  keyFile: string;
  masterId: string;
  listenHost?: string;
} {
  if (values.out) {
    const dir = resolve(values.out);
    return { certFile: resolve(dir, 'master.crt'), keyFile: resolve(dir, 'master.key'), masterId: 'master' };
  }
  const settings = loadMasterSettings(values.config ?? '/etc/upsfleet/master.yaml');
  const files = settings.tls.explicit ? settings.tls : defaultTlsFiles(settings.stateDir);
  return {
    certFile: files.certFile,
    keyFile: files.keyFile,
    masterId: settings.id,
    listenHost: settings.listen.host,
  };
}

export const keygenCommand: CommandHandler = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      out: { type: 'string' },
      name: { type: 'string', multiple: true },
      force: { type: 'boolean' },
    },
    strict: true,
  });
  const target = keygenTarget(values);
  const names = [...(values.name ?? [])];
  if (target.listenHost && !['0.0.0.0', '::', ''].includes(target.listenHost)) names.push(target.listenHost);
  try {
    printFingerprint(
      io,
      keygen({
        ...target,
        names,
        commonName: `upsfleet master ${target.masterId}`,
        force: values.force ?? false,
      }),
    );
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      io.stderr(`upsfleet keygen: ${(err as Error).message}\n`);
      return ExitCodes.FAILURE;
    }
    throw err;
  }
  return ExitCodes.OK;
};
