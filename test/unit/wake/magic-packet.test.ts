/**
 * The Wake-on-LAN magic packet byte by byte, sent for real to a UDP socket on loopback; MAC parsing; the
 * `wol:` capability an agent announces in hello; and which interface's MAC an agent reports.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { MAGIC_PACKET_BYTES, magicPacket, sendMagicPacket } from '../../../master/wake/magic-packet.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import {
  macCapability,
  macForLocalAddress,
  macFromCapabilities,
  normalizeMac,
} from '../../../shared/net/mac.js';

describe('magic packet', () => {
  it('is 6 bytes 0xff then the MAC 16 times (102 bytes)', () => {
    const p = magicPacket('01:23:45:67:89:AB');
    assert.equal(p.length, MAGIC_PACKET_BYTES);
    assert.equal(p.length, 102);
    assert.deepEqual([...p.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    for (let i = 0; i < 16; i++)
      assert.deepEqual(
        [...p.subarray(6 + i * 6, 12 + i * 6)],
        [0x01, 0x23, 0x45, 0x67, 0x89, 0xab],
        `copy ${i}`,
      );
    assert.deepEqual(magicPacket('01-23-45-67-89-ab'), p);
    assert.deepEqual(magicPacket('0123456789ab'), p);
  });

  it('refuses what is not a MAC, with WAKE_FAILED', () => {
    for (const bad of [
      '',
      '01:23:45:67:89',
      '01:23:45:67:89:ab:cd',
      'zz:23:45:67:89:ab',
      '01:23-45:67:89:ab',
    ])
      assert.throws(
        () => magicPacket(bad),
        (err) => isUpsfleetError(err, 'WAKE_FAILED'),
        bad,
      );
  });

  it('reaches a UDP listener as one datagram', async () => {
    const listener = createSocket('udp4');
    await new Promise<void>((resolve) => listener.bind(0, '127.0.0.1', resolve));
    const { port } = listener.address() as AddressInfo;
    const got = new Promise<Buffer>((resolve) => listener.once('message', (msg) => resolve(msg)));
    await sendMagicPacket('02:00:5e:10:00:01', { address: '127.0.0.1', port });
    const msg = await got;
    listener.close();
    assert.deepEqual(msg, magicPacket('02:00:5e:10:00:01'));
  });

  it('a datagram that cannot leave is a WAKE_FAILED error', async () => {
    await assert.rejects(sendMagicPacket('02:00:5e:10:00:01', { address: '127.0.0.1', port: 0 }), (err) =>
      isUpsfleetError(err, 'WAKE_FAILED'),
    );
  });
});

describe('MAC of the agent', () => {
  const interfaces = {
    lo: [
      {
        address: '127.0.0.1',
        netmask: '255.0.0.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: true,
        cidr: '127.0.0.1/8',
      },
    ],
    eth0: [
      {
        address: '192.0.2.11',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: 'AA:BB:CC:00:11:22',
        internal: false,
        cidr: '192.0.2.11/24',
      },
      {
        address: 'fe80::1',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: 'aa:bb:cc:00:11:22',
        internal: false,
        cidr: 'fe80::1/64',
        scopeid: 2,
      },
    ],
    wg0: [
      {
        address: '10.9.0.2',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: false,
        cidr: '10.9.0.2/24',
      },
    ],
  } as unknown as ReturnType<typeof networkInterfaces>;

  it('is the MAC of the interface that holds the local end of the master connection', () => {
    assert.equal(macForLocalAddress('192.0.2.11', interfaces), 'aa:bb:cc:00:11:22');
    assert.equal(macForLocalAddress('::ffff:192.0.2.11', interfaces), 'aa:bb:cc:00:11:22');
    assert.equal(macForLocalAddress('fe80::1%eth0', interfaces), 'aa:bb:cc:00:11:22');
  });

  it('is none over loopback, a tunnel without MAC, or an unknown address', () => {
    assert.equal(macForLocalAddress('127.0.0.1', interfaces), null);
    assert.equal(macForLocalAddress('10.9.0.2', interfaces), null);
    assert.equal(macForLocalAddress('198.51.100.7', interfaces), null);
    assert.equal(macForLocalAddress(undefined, interfaces), null);
  });

  it('travels as a wol: capability that any master ignores if it does not know it', () => {
    const caps = ['order', 'seq', macCapability('aa:bb:cc:00:11:22')];
    assert.equal(macFromCapabilities(caps), 'aa:bb:cc:00:11:22');
    assert.equal(macFromCapabilities(['order']), null);
    assert.equal(macFromCapabilities(['wol:nonsense']), null);
    assert.equal(macFromCapabilities(['wol:00:00:00:00:00:00']), null, 'all zero wakes nothing');
    assert.equal(macFromCapabilities(['wol:01:00:5e:00:00:01']), null, 'a multicast address is no host');
    assert.equal(normalizeMac('AA-BB-CC-00-11-22'), 'aa:bb:cc:00:11:22');
  });
});
