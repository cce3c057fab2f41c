/** The NUT server's STARTTLS uses the master's certificate (verified by a client with it as CA); a second STARTTLS is refused. */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { NutClient, nutErrorCode } from '../../../master/nut/client/nut-client.js';
import { startTlsMaster, type TlsMaster } from './helpers.js';

let m: TlsMaster;
before(async () => {
  m = await startTlsMaster(['nut: { listen: "127.0.0.1:0" }']);
});
after(async () => {
  await m.master.stop();
});

it("upgrades a NUT connection with STARTTLS using the master's certificate", async () => {
  const port = m.master.nutAddress!.port;
  const c = await NutClient.connect({ host: '127.0.0.1', port, tls: { ca: m.certPem } });
  const vars = await c.listVars('ups');
  assert.equal(vars['battery.charge'], '97');
  await assert.rejects(c.request(['STARTTLS']), (e: unknown) => nutErrorCode(e) === 'ALREADY-SSL-MODE');
  await c.close();
});

it('fails the STARTTLS verification against another CA', async () => {
  const { createSelfSigned } = await import('../../../shared/tls/self-signed.js');
  const other = createSelfSigned({ commonName: 'other', altNames: ['127.0.0.1'] }).certPem;
  await assert.rejects(
    NutClient.connect({ host: '127.0.0.1', port: m.master.nutAddress!.port, tls: { ca: other } }),
  );
});
