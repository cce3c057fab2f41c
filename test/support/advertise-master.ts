/** Runs a TLS master with mDNS advertising on (in a network namespace made by the avahi test) until stdin closes. */
import { Advertiser } from '../../master/discovery/advertiser.js';
import { silentLogger } from '../../shared/logger.js';
import { startTlsMaster } from '../unit/trust/helpers.js';

const m = await startTlsMaster();
const adv = new Advertiser({
  masterId: 'avahi-test',
  port: Number(new URL(m.http).port),
  fingerprint: m.fingerprint,
  nutPort: 3493,
  logger: silentLogger(),
});
adv.start();
process.stdout.write(
  `${JSON.stringify({ port: Number(new URL(m.http).port), fingerprint: m.fingerprint })}\n`,
);
process.stdin.resume();
process.stdin.on('end', async () => {
  await adv.stop();
  await m.master.stop();
  process.exit(0);
});
