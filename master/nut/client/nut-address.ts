/** NUT addresses as upsc writes them: `ups@host[:port]`, with `[v6]` brackets for IPv6 hosts. */
import { UpsfleetError } from '../../../shared/errors.js';
import { NUT_DEFAULT_PORT } from './nut-client.js';

export interface NutAddress {
  ups: string;
  host: string;
  port: number;
}

export function parseNutAddress(text: string): NutAddress {
  const m = /^([^@\s/]+)@(\[[0-9A-Fa-f:.]+\]|[^:@\s/[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = m?.[3] === undefined ? NUT_DEFAULT_PORT : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw new UpsfleetError('NUT_ADDRESS_INVALID', `"${text}" is not a NUT address (ups@host[:port])`);
  }
  return { ups: m[1]!, host: m[2]!.replace(/^\[(.*)\]$/, '$1'), port };
}
