/** Whether a host is loopback-only: plain ws/http is allowed there (with a warning), TLS everywhere else. */
import { isIP } from 'node:net';

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** A peer address as one key: IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function normalizeIp(ip: string | undefined): string {
  return (ip ?? 'unknown').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}
