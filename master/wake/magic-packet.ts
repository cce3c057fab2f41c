/**
 * Wake-on-LAN: the magic packet (6 bytes 0xFF, then the target's MAC 16 times: 102 bytes) and its sending
 * as one UDP datagram to a broadcast address (default 255.255.255.255, port 9, the discard port most
 * network cards listen on while off). A pure encoder below a small sender over node:dgram.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { UpsfleetError } from '../../shared/errors.js';
import { parseMac } from '../../shared/net/mac.js';

export const MAGIC_PACKET_BYTES = 102;

export interface WolTarget {
  address: string;
  port: number;
}

export const DEFAULT_WOL_TARGET: WolTarget = { address: '255.255.255.255', port: 9 };

export function magicPacket(mac: string): Buffer {
  const bytes = parseMac(mac);
  if (!bytes) throw new UpsfleetError('WAKE_FAILED', `not a MAC address: "${mac}"`, { mac });
  const packet = Buffer.alloc(MAGIC_PACKET_BYTES, 0xff);
  for (let i = 0; i < 16; i++) bytes.copy(packet, 6 + i * 6);
  return packet;
}

/** Sends one magic packet; resolves once the datagram left, rejects with WAKE_FAILED when it could not. */
export async function sendMagicPacket(mac: string, target: WolTarget = DEFAULT_WOL_TARGET): Promise<void> {
  const packet = magicPacket(mac);
  const socket = createSocket(isIPv6(target.address) ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        // setBroadcast and send throw at once for what they refuse (a bad port or address)
        try {
          socket.setBroadcast(true);
          socket.send(packet, target.port, target.address, (err) => (err ? reject(err) : resolve()));
        } catch (err) {
          reject(err);
        }
      });
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UpsfleetError(
      'WAKE_FAILED',
      `magic packet for ${mac} to ${target.address}:${target.port} not sent: ${e.message}`,
      { mac, address: target.address, port: target.port, errno: e.code ?? null },
    );
  } finally {
    socket.close();
  }
}
