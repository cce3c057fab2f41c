/** Test keys for SSH host key pins. */
import { generateKeyPairSync } from 'node:crypto';

/** A fresh ed25519 public key as an OpenSSH line: string "ssh-ed25519" + string(32 raw bytes), then the comment. */
export function freshEd25519Line(comment = 'root@nas'): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}
