/**
 * SSH host keys as OpenSSH shows them: a public key line (`ssh-ed25519 AAAA... comment`) or its
 * fingerprint, `SHA256:` + the unpadded base64 of the SHA-256 of the key blob (what `ssh-keygen -lf`
 * and the server's "key fingerprint is" print). Pure: config validation and the master use it alike.
 */
import { createHash } from 'node:crypto';

export interface PinnedHostKey {
  /** `SHA256:...` (no padding), compared with the server's. */
  fingerprint: string;
  /** The key type when the pin is a whole key line (`ssh-ed25519`); null for a bare fingerprint. */
  type: string | null;
  /** What the config said (for messages). */
  text: string;
}

/** `SHA256:...` of a raw public key blob, exactly as ssh-keygen -lf prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a public key blob (its first SSH string), or null if it is not one. */
export function blobKeyType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return null;
  const type = blob.subarray(4, 4 + len).toString('latin1');
  return /^[a-z0-9@.-]+$/.test(type) ? type : null;
}

/**
 * Parses a pin. Returns a problem (a sentence) instead when the text is neither a well-formed key line
 * whose blob names the same type as its prefix, nor a SHA256 fingerprint.
 */
export function parsePinnedHostKey(text: string): PinnedHostKey | { problem: string } {
  const t = text.trim();
  const fp = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(t);
  if (fp) return { fingerprint: `SHA256:${fp[1]}`, type: null, text: t };
  const parts = t.split(/\s+/);
  const [type, b64] = parts;
  if (!type || !b64) return { problem: 'is neither a public key line (ssh-ed25519 AAAA...) nor SHA256:...' };
  const blob = Buffer.from(b64, 'base64');
  if (blob.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, ''))
    return { problem: 'the key is not valid base64' };
  const inner = blobKeyType(blob);
  if (inner !== type)
    return {
      problem: `the key says ${inner === null ? 'nothing readable' : `"${inner}"`} inside, not "${type}": copy the whole line`,
    };
  return { fingerprint: sshFingerprint(blob), type, text: t };
}
