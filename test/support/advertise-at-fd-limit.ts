/**
 * Runs the master's mDNS advertiser through real file-descriptor exhaustion (test/fault/fd-exhaustion.test.ts):
 * advertises, takes every free descriptor (/dev/null opened until EMFILE) for 7 s so that multicast-dns's
 * 5-second interface scan hits EMFILE, starts a second advertiser meanwhile (its UDP socket cannot be made),
 * then gives the descriptors back and runs 4.5 s more so that both recover. JSON log lines on stdout; exit 0
 * when it got through. Interfaces are narrowed to loopback (the real scan still runs and fails for real), so
 * no multicast leaves the machine. Argument: a free UDP port for the mDNS socket.
 */
import { closeSync, openSync } from 'node:fs';
import os from 'node:os';
import { pino } from 'pino';
import { Advertiser } from '../../master/discovery/advertiser.js';

const realInterfaces = os.networkInterfaces;
os.networkInterfaces = () =>
  Object.fromEntries(Object.entries(realInterfaces()).filter(([, addrs]) => addrs?.some((a) => a.internal)));

const port = Number(process.argv[2]);
const logger = pino({ level: 'debug' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const advertiser = (id: string) =>
  new Advertiser({
    masterId: id,
    port: 4443,
    fingerprint: 'ab'.repeat(32),
    nutPort: 3493,
    logger: logger.child({ module: id }),
    mdns: { port, bind: '127.0.0.1' },
    retryMs: 1_000,
  });

const first = advertiser('first');
first.start();
await sleep(1_500);

const hoard: number[] = [];
try {
  for (;;) hoard.push(openSync('/dev/null', 'r'));
} catch (err) {
  logger.info(
    { phase: 'exhausted', held: hoard.length, errno: (err as NodeJS.ErrnoException).code },
    'fds taken',
  );
}
const second = advertiser('second');
second.start();
await sleep(7_000);

for (const fd of hoard.splice(0)) closeSync(fd);
logger.info({ phase: 'released' }, 'fds given back');
await sleep(4_500); // past the next 5-second scan
await first.stop();
await second.stop();
logger.info({ phase: 'done' }, 'advertisers stopped');
