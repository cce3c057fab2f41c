/**
 * One SSH login to a target with the maintained `ssh2` library (pure JavaScript; its optional native
 * crypto binding is used when present, never needed): TCP connect, handshake with the server's host key
 * checked against the pin before anything is sent, public key login, then commands on that connection.
 * Failures carry stable codes: SSH_HOST_KEY_MISMATCH (with both fingerprints), SSH_AUTH_FAILED,
 * SSH_UNREACHABLE, SSH_KEY_UNREADABLE.
 */
import { readFileSync } from 'node:fs';
import ssh2, { type ClientChannel, type ConnectConfig } from 'ssh2';
import type { SshTargetSpec } from '../../shared/config/ssh-target-settings.js';
import { UpsfleetError } from '../../shared/errors.js';
import { blobKeyType, sshFingerprint } from '../../shared/net/ssh-host-key.js';

/** What a command left behind: its exit status, or how the session ended without one. */
export interface ExecResult {
  /** The exit status; null when the session ended without one (a signal, or the connection dropped). */
  code: number | null;
  signal: string | null;
  /** The connection closed before an exit status arrived (a host powering off often kills sshd first). */
  dropped: boolean;
  /** The last bytes of its output (for reports; never the whole of it). */
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface SshConnection {
  /** The fingerprint and type of the key the server showed (equal to the pin). */
  readonly hostKey: { fingerprint: string; type: string | null };
  /**
   * Runs `command`. `onStarted` fires once the server accepted the exec request (the order arrived). A
   * connection that drops while it runs resolves with `dropped: true`, never rejects.
   */
  exec(command: string, onStarted?: () => void): Promise<ExecResult>;
  close(): void;
}

export type SshTargetLogin = Pick<
  SshTargetSpec,
  'id' | 'host' | 'port' | 'user' | 'keyFile' | 'hostKey' | 'connectTimeoutMs'
>;

export type SshConnector = (target: SshTargetLogin) => Promise<SshConnection>;

const OUTPUT_TAIL = 2048;

/** Host key algorithms to offer for a pinned key type: the server then shows that key and no other. */
function hostKeyAlgorithms(type: string | null): ConnectConfig['algorithms'] {
  if (type === null) return undefined;
  if (type === 'ssh-rsa') return { serverHostKey: ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] };
  return { serverHostKey: [type as 'ssh-ed25519'] };
}

function readKey(target: SshTargetLogin): Buffer {
  try {
    return readFileSync(target.keyFile);
  } catch (err) {
    throw new UpsfleetError(
      'SSH_KEY_UNREADABLE',
      `${target.id}: cannot read the private key ${target.keyFile} (${(err as Error).message})`,
      { target: target.id, keyFile: target.keyFile },
    );
  }
}

export function hostKeyMismatch(
  target: Pick<SshTargetLogin, 'id' | 'host' | 'port' | 'hostKey'>,
  seen: { fingerprint: string; type: string | null },
): UpsfleetError {
  return new UpsfleetError(
    'SSH_HOST_KEY_MISMATCH',
    `${target.id}: the server at ${target.host}:${target.port} showed host key ${seen.type ?? 'of unknown type'} ${seen.fingerprint}, but ${target.hostKey.fingerprint} is pinned: refused, nothing was sent (if the host was reinstalled, pin its new key)`,
    {
      target: target.id,
      pinned: target.hostKey.fingerprint,
      seen: seen.fingerprint,
      seenType: seen.type,
    },
  );
}

/** The ssh2 connector: what the master uses. */
export const ssh2Connector: SshConnector = (target) =>
  new Promise<SshConnection>((resolve, reject) => {
    const privateKey = readKey(target);
    const client = new ssh2.Client();
    let seen: { fingerprint: string; type: string | null } | null = null;
    let ready = false;
    let failure: UpsfleetError | null = null;
    const fail = (err: UpsfleetError) => {
      failure ??= err;
      if (!ready) reject(failure);
      client.end();
    };
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (ready) return; // a dropped session: exec reports it
      if (seen && seen.fingerprint !== target.hostKey.fingerprint) return fail(hostKeyMismatch(target, seen));
      const where = `${target.user}@${target.host}:${target.port}`;
      if (err.level === 'client-authentication')
        return fail(
          new UpsfleetError(
            'SSH_AUTH_FAILED',
            `${target.id}: ${where} refused the key ${target.keyFile} (is its public key in ~${target.user}/.ssh/authorized_keys?)`,
            { target: target.id, user: target.user },
          ),
        );
      fail(
        new UpsfleetError(
          'SSH_UNREACHABLE',
          `${target.id}: cannot reach ${where}: ${err.code ? `${err.code} ` : ''}${err.message}`,
          { target: target.id, cause: err.code ?? err.level ?? null },
        ),
      );
    });
    client.on('close', () => {
      if (!ready)
        fail(
          new UpsfleetError(
            'SSH_UNREACHABLE',
            `${target.id}: ${target.host}:${target.port} closed the connection during the handshake`,
            { target: target.id, cause: 'closed' },
          ),
        );
    });
    client.on('ready', () => {
      ready = true;
      resolve(connection(client, seen!));
    });
    try {
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        privateKey,
        readyTimeout: target.connectTimeoutMs,
        // a host that powers off may vanish without closing the connection: notice within ~3 s
        keepaliveInterval: 1000,
        keepaliveCountMax: 3,
        algorithms: hostKeyAlgorithms(target.hostKey.type),
        hostVerifier: (key: Buffer) => {
          seen = { fingerprint: sshFingerprint(key), type: blobKeyType(key) };
          return seen.fingerprint === target.hostKey.fingerprint;
        },
      });
    } catch (err) {
      // ssh2 parses the private key synchronously
      reject(
        new UpsfleetError(
          'SSH_KEY_UNREADABLE',
          `${target.id}: the private key ${target.keyFile} cannot be used: ${(err as Error).message} (an unencrypted OpenSSH or PEM key is needed)`,
          { target: target.id, keyFile: target.keyFile },
        ),
      );
    }
  });

function connection(
  client: ssh2.Client,
  hostKey: { fingerprint: string; type: string | null },
): SshConnection {
  let closed = false;
  const closeWaiters: Array<() => void> = [];
  client.on('close', () => {
    closed = true;
    for (const w of closeWaiters.splice(0)) w();
  });
  return {
    hostKey,
    close: () => client.end(),
    exec: (command, onStarted) =>
      new Promise<ExecResult>((resolve) => {
        const started = Date.now();
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        let signal: string | null = null;
        let exited = false;
        let done = false;
        const finish = (dropped: boolean) => {
          if (done) return;
          done = true;
          resolve({
            code,
            signal,
            dropped: dropped && !exited,
            stdout: stdout.slice(-OUTPUT_TAIL),
            stderr: stderr.slice(-OUTPUT_TAIL),
            durationMs: Date.now() - started,
          });
        };
        if (closed) return finish(true);
        closeWaiters.push(() => finish(true));
        client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
          if (err) {
            stderr = `exec refused: ${err.message}`;
            return finish(false);
          }
          onStarted?.();
          stream.on('data', (d: Buffer) => {
            stdout = (stdout + d.toString('utf8')).slice(-OUTPUT_TAIL * 2);
          });
          stream.stderr.on('data', (d: Buffer) => {
            stderr = (stderr + d.toString('utf8')).slice(-OUTPUT_TAIL * 2);
          });
          stream.on('exit', (c: number | null, sig?: string) => {
            exited = true;
            code = typeof c === 'number' ? c : null;
            signal = sig ?? null;
          });
          stream.on('close', () => finish(!exited));
        });
      }),
  };
}
