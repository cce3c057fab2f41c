/** Talking to a master's HTTP API from the CLI. Accepts http(s)://host:port or the ws(s)://host:port/ws URL agents use. */
import { UpsfleetError } from '../../shared/errors.js';
import { isLoopbackHost } from '../../shared/net/loopback.js';
import { normalizeFingerprint } from '../../shared/tls/fingerprint.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import type { CommandIo } from './command.js';
import { ExitCodes } from './command.js';

export function httpBase(url: string): string {
  const u = new URL(url.includes('://') ? url : `http://${url}`);
  const protocol = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  return `${protocol}//${u.host}`;
}

/**
 * Throws TOKEN_PLAINTEXT when a token would go over plain HTTP (`http://`, `ws://`, or HOST:PORT without a
 * scheme) to anything but a loopback address: as agents refuse ws:// off loopback, the CLI does not put an
 * admin or viewer token on the wire in clear. Loopback stays allowed (a master listening on 127.0.0.1).
 */
export function refusePlaintextToken(url: string): void {
  const base = new URL(httpBase(url));
  if (base.protocol === 'https:' || isLoopbackHost(base.hostname)) return;
  throw new UpsfleetError(
    'TOKEN_PLAINTEXT',
    `refusing to send the token in clear to ${base.host}: use https://${base.host} (and --fingerprint or UPSFLEET_FINGERPRINT); plain http:// is for a master on loopback only`,
    { url },
  );
}

/** Prints a TOKEN_PLAINTEXT refusal for `command`; returns the exit code, or null when the URL is fine. */
export function plaintextRefusal(command: string, url: string, io: CommandIo): number | null {
  try {
    refusePlaintextToken(url);
    return null;
  } catch (err) {
    if (!(err instanceof UpsfleetError)) throw err;
    io.stderr(`upsfleet ${command}: ${err.message} (${err.code})\n`);
    return ExitCodes.USAGE;
  }
}

/** `--fingerprint`, shared by every command that talks to a master over https. */
export const FINGERPRINT_OPTION = { fingerprint: { type: 'string' } } as const;

let fingerprintFlag: string | undefined;

/** Called by a command with its parsed `--fingerprint` value; it wins over UPSFLEET_FINGERPRINT. */
export function useFingerprint(value: string | undefined): void {
  fingerprintFlag = value;
}

/** The master's pinned fingerprint for https:// URLs: --fingerprint or UPSFLEET_FINGERPRINT (else the system CAs verify). */
export function cliFingerprints(): string[] {
  const fp = normalizeFingerprint(fingerprintFlag ?? process.env.UPSFLEET_FINGERPRINT ?? '');
  return fp ? [fp] : [];
}

export async function getStatus(url: string): Promise<Record<string, unknown>> {
  const res = await pinnedRequest(`${httpBase(url)}/status`, { fingerprints: cliFingerprints() });
  if (res.status !== 200) throw new Error(`${httpBase(url)}/status answered ${res.status}`);
  return JSON.parse(res.text) as Record<string, unknown>;
}

export async function postAdmin(
  url: string,
  path: string,
  token: string,
  body: unknown,
  io: CommandIo,
): Promise<number> {
  const refused = plaintextRefusal('admin request', url, io);
  if (refused !== null) return refused;
  let res: { status: number; text: string };
  try {
    res = await pinnedRequest(`${httpBase(url)}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      fingerprints: cliFingerprints(),
    });
  } catch (err) {
    io.stderr(`cannot reach the master at ${httpBase(url)}: ${(err as Error).message}\n`);
    return ExitCodes.UNREACHABLE;
  }
  const text = res.text;
  if (res.status < 200 || res.status > 299) {
    io.stderr(`master refused (${res.status}): ${text}\n`);
    return res.status === 401 ? ExitCodes.PERMISSION : ExitCodes.FAILURE;
  }
  io.stdout('ok\n');
  return ExitCodes.OK;
}
