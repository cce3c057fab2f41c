/**
 * MAC addresses for Wake-on-LAN: parsing and formatting, the one an agent finds for the interface that
 * carries its master connection, and how it announces it in `hello`. The MAC travels as a capability
 * (`wol:aa:bb:cc:dd:ee:ff`) rather than a field of its own: hello is a closed object, so an older master
 * would close the connection of an agent sending a field it does not know, while every master ignores a
 * capability it does not know.
 */
import type { networkInterfaces } from 'node:os';

/** `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` or `aabbccddeeff`. */
const MAC_TEXT = /^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

/** The schema pattern for a MAC in a config file (the forms parseMac accepts). */
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\\1[0-9A-Fa-f]{2}){4}$';

export const WOL_CAPABILITY_PREFIX = 'wol:';

/** The six bytes of a MAC, or null when the text is not one. */
export function parseMac(text: string): Buffer | null {
  if (!MAC_TEXT.test(text)) return null;
  return Buffer.from(text.replace(/[:-]/g, ''), 'hex');
}

/** Lower-case, colon-separated; null when the text is not a MAC. */
export function normalizeMac(text: string): string | null {
  const bytes = parseMac(text);
  return bytes ? formatMac(bytes) : null;
}

export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A MAC that cannot wake anything: all zero (loopback, tunnels) or a group address (multicast bit). */
export function isUsableMac(bytes: Buffer): boolean {
  return bytes.length === 6 && bytes.some((b) => b !== 0) && (bytes[0]! & 1) === 0;
}

export function macCapability(mac: string): string {
  return `${WOL_CAPABILITY_PREFIX}${mac}`;
}

/** The MAC an agent announced in hello's capabilities, normalized; null when none or not usable. */
export function macFromCapabilities(capabilities: readonly string[]): string | null {
  for (const c of capabilities) {
    if (!c.startsWith(WOL_CAPABILITY_PREFIX)) continue;
    const bytes = parseMac(c.slice(WOL_CAPABILITY_PREFIX.length));
    if (bytes && isUsableMac(bytes)) return formatMac(bytes);
  }
  return null;
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/**
 * The MAC of the interface that holds `localAddress` (the local end of the master connection), or null
 * when no interface holds it or its MAC cannot wake anything (loopback, a tunnel).
 */
export function macForLocalAddress(localAddress: string | undefined, interfaces: Interfaces): string | null {
  if (!localAddress) return null;
  const wanted = localAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '').replace(/%.*$/, '');
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal || info.address.replace(/%.*$/, '') !== wanted) continue;
      const bytes = parseMac(info.mac);
      if (bytes && isUsableMac(bytes)) return formatMac(bytes);
    }
  }
  return null;
}
