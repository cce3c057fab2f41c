/**
 * Run inside a private network namespace (test/unit/trust/discovery.test.ts starts it with `unshare -rn`,
 * lo up with multicast): a real master advertising `_upsfleet._tcp`, two fake masters with another
 * certificate (one advertising its own hint, one copying the real master's hint), and an agent with
 * `master: { auto: true, fingerprint }`. Prints one JSON line with what happened.
 */
import { createServer } from 'node:https';
import { join } from 'node:path';
import { Bonjour } from 'bonjour-service';
import { WebSocketServer } from 'ws';
import { Agent } from '../../agent/agent.js';
import { addToken } from '../../master/auth/token-store.js';
import { parseAgentSettings } from '../../shared/config/agent-settings.js';
import { fingerprintHint, fingerprintOfPem } from '../../shared/tls/fingerprint.js';
import { createSelfSigned } from '../../shared/tls/self-signed.js';
import { captureLogger, startTlsMaster } from '../unit/trust/helpers.js';

const masterLog = captureLogger();
const real = await startTlsMaster([], masterLog.logger);
// the startTlsMaster config turns mDNS off for other tests: advertise here explicitly
const { Advertiser } = await import('../../master/discovery/advertiser.js');
const adv = new Advertiser({
  masterId: 'real',
  port: Number(new URL(real.http).port),
  fingerprint: real.fingerprint,
  logger: masterLog.logger,
});
const token = addToken(real.master.settings.tokensFile, 'web1', 'agent', 'app');
real.master.tokens.invalidate();

// fake masters: another certificate; one honest about its hint, one lying with the real master's hint
const fake = createSelfSigned({ commonName: 'evil', altNames: ['127.0.0.1'] });
const fakeHits: string[] = [];
const fakes = await Promise.all(
  ['own-hint', 'copied-hint'].map(
    (kind) =>
      new Promise<{ port: number; kind: string }>((resolve) => {
        const srv = createServer({ key: fake.keyPem, cert: fake.certPem });
        const wss = new WebSocketServer({ server: srv });
        wss.on('connection', (ws) => {
          fakeHits.push(kind);
          ws.on('message', () => fakeHits.push(`${kind}:got-message`));
        });
        srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as { port: number }).port, kind }));
      }),
  ),
);
const bonjour = new Bonjour();
for (const f of fakes) {
  const hint =
    f.kind === 'own-hint'
      ? fingerprintHint(fingerprintOfPem(fake.certPem))
      : fingerprintHint(real.fingerprint);
  bonjour.publish({
    name: `upsfleet fake ${f.kind}`,
    type: 'upsfleet',
    port: f.port,
    txt: { v: '1', id: 'real', fp: hint },
  });
}

const agentLog = captureLogger();
const settings = parseAgentSettings(
  `agent: { id: web1, group: app, token: "${token}" }\nmaster: { auto: true, fingerprint: "${real.fingerprint}" }\nshutdown: { dryRun: true }\nreconnect: { initial: 100ms, max: 500ms }\n`,
  join(real.dir, 'agent.yaml'),
);
const agent = new Agent(settings, { logger: agentLog.logger });
agent.start();
// the real master appears later, so the agent first meets only the fakes
setTimeout(() => adv.start(), 1500);
const deadline = Date.now() + 20_000;
let connected = false;
while (Date.now() < deadline) {
  connected = real.master.registry.get('web1')?.connected === true;
  const sawOwn = agentLog.lines.some((l) =>
    /advertised over mDNS with another certificate/.test(String(l.msg)),
  );
  const sawCopied = agentLog.lines.some((l) => /ignoring a master found over mDNS/.test(String(l.msg)));
  if (connected && sawOwn && sawCopied) break;
  await new Promise((r) => setTimeout(r, 100));
}
const out = {
  connected,
  url: agentLog.lines.find((l) => l.msg === 'connected to the master')?.url ?? null,
  realPort: Number(new URL(real.http).port),
  ignoredByHint: agentLog.lines
    .filter((l) => /advertised over mDNS with another certificate/.test(String(l.msg)))
    .map((l) => l.port),
  refusedByPin: agentLog.lines
    .filter((l) => /ignoring a master found over mDNS/.test(String(l.msg)))
    .map((l) => l.url),
  fakePorts: Object.fromEntries(fakes.map((f) => [f.kind, f.port])),
  fakeHits,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
await agent.stop();
bonjour.destroy();
await adv.stop();
await real.master.stop();
process.exit(0);
