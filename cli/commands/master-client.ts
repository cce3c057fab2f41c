/** Talking to a master's HTTP API from the CLI. Accepts http(s)://host:port or the ws(s)://host:port/ws URL agents use. */
import type { CommandIo } from './command.js';
import { ExitCodes } from './command.js';

export function httpBase(url: string): string {
  const u = new URL(url.includes('://') ? url : `http://${url}`);
  const protocol = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  return `${protocol}//${u.host}`;
}

export async function getStatus(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${httpBase(url)}/status`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${httpBase(url)}/status answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

export async function postAdmin(url: string, path: string, token: string, body: unknown, io: CommandIo): Promise<number> {
  let res: Response;
  try {
    res = await fetch(`${httpBase(url)}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    io.stderr(`cannot reach the master at ${httpBase(url)}: ${(err as Error).message}\n`);
    return ExitCodes.UNREACHABLE;
  }
  const text = await res.text();
  if (!res.ok) {
    io.stderr(`master refused (${res.status}): ${text}\n`);
    return res.status === 401 ? ExitCodes.PERMISSION : ExitCodes.FAILURE;
  }
  io.stdout('ok\n');
  return ExitCodes.OK;
}
