/** The NUT server's command set on a real socket: replies, quoting, access rules and exact ERR codes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tokenizeLine } from '../../../master/nut/protocol/tokenize.js';
import { type Harness, startHarness, VARS } from './helpers.js';

describe('NUT server commands', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  test('VER, NETVER, PROTVER, HELP', async () => {
    const c = await h.client();
    assert.match((await c.cmd('VER'))!, /^upsfleet .* NUT network protocol 1\.3$/);
    assert.equal(await c.cmd('NETVER'), '1.3');
    assert.equal(await c.cmd('protver'), '1.3');
    assert.equal(
      await c.cmd('HELP'),
      'Commands: HELP VER PROTVER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS',
    );
  });

  test('STARTTLS is not configured; unknown commands; empty lines are ignored', async () => {
    const c = await h.client();
    assert.equal(await c.cmd('STARTTLS'), 'ERR FEATURE-NOT-CONFIGURED');
    assert.equal(await c.cmd('FROB ups'), 'ERR UNKNOWN-COMMAND');
    c.write('\n   \n');
    assert.equal(await c.cmd('GET'), 'ERR INVALID-ARGUMENT');
    assert.equal(await c.cmd('GET FOO ups'), 'ERR INVALID-ARGUMENT');
    assert.equal(await c.cmd('LIST FOO ups'), 'ERR INVALID-ARGUMENT');
    assert.equal(await c.cmd('GET VAR ups "unterminated'), 'ERR INVALID-ARGUMENT');
  });

  test('over-long lines get ERR TOO-LONG and the connection keeps working', async () => {
    const c = await h.client();
    assert.equal(await c.cmd(`GET VAR ups ${'x'.repeat(5000)}`), 'ERR TOO-LONG');
    // an over-long line arriving in pieces is answered once
    c.write('y'.repeat(800));
    c.write('y'.repeat(800));
    c.write('y'.repeat(800));
    assert.equal(await c.cmd(''), 'ERR TOO-LONG');
    assert.equal(await c.cmd('NETVER'), '1.3');
  });

  test('GET VAR quotes and escapes values; unknown UPS and variable', async () => {
    const c = await h.client();
    assert.equal(await c.cmd('GET VAR ups ups.status'), 'VAR ups ups.status "OL CHRG"');
    const model = (await c.cmd('GET VAR ups device.model'))!;
    assert.equal(model, 'VAR ups device.model "Smart \\"UPS\\" 1500 \\\\ rack"');
    assert.equal(tokenizeLine(model)![3], VARS['device.model']);
    assert.equal(await c.cmd('GET VAR ups ups.id'), 'VAR ups ups.id "rack #1"');
    assert.equal(await c.cmd('GET VAR other ups.status'), 'ERR UNKNOWN-UPS');
    assert.equal(await c.cmd('GET VAR ups no.such.var'), 'ERR VAR-NOT-SUPPORTED');
    assert.equal(await c.cmd('GET VAR ups'), 'ERR INVALID-ARGUMENT');
  });

  test('GET UPSDESC, NUMLOGINS, TYPE, DESC, CMDDESC', async () => {
    const c = await h.client();
    assert.equal(await c.cmd('GET UPSDESC ups'), 'UPSDESC ups "Rack \\"A\\" UPS"');
    assert.equal(await c.cmd('GET NUMLOGINS ups'), 'NUMLOGINS ups 0');
    assert.equal(await c.cmd('GET TYPE ups battery.charge.low'), 'TYPE ups battery.charge.low RW RANGE');
    assert.equal(await c.cmd('GET TYPE ups ups.beeper.status'), 'TYPE ups ups.beeper.status RW ENUM');
    assert.equal(await c.cmd('GET TYPE ups ups.delay.shutdown'), 'TYPE ups ups.delay.shutdown RW NUMBER');
    assert.equal(await c.cmd('GET TYPE ups ups.id'), 'TYPE ups ups.id RW STRING:64');
    assert.equal(await c.cmd('GET TYPE ups battery.charge'), 'TYPE ups battery.charge NUMBER');
    assert.equal(await c.cmd('GET TYPE ups nope'), 'ERR VAR-NOT-SUPPORTED');
    assert.equal(await c.cmd('GET DESC ups ups.status'), 'DESC ups ups.status "UPS status"');
    assert.equal(await c.cmd('GET DESC ups x.y'), 'DESC ups x.y "Description unavailable"');
    assert.equal(
      await c.cmd('GET CMDDESC ups shutdown.return'),
      'CMDDESC ups shutdown.return "Turn off the load and return when power is back"',
    );
  });

  test('LIST UPS, VAR, RW, CMD, ENUM, RANGE', async () => {
    const c = await h.client();
    assert.deepEqual(await c.list('LIST UPS'), [
      'BEGIN LIST UPS',
      'UPS ups "Rack \\"A\\" UPS"',
      'END LIST UPS',
    ]);
    const vars = await c.list('LIST VAR ups');
    assert.equal(vars[0], 'BEGIN LIST VAR ups');
    assert.equal(vars.at(-1), 'END LIST VAR ups');
    const parsed = Object.fromEntries(
      vars.slice(1, -1).map((l) => tokenizeLine(l)!.slice(2, 4) as [string, string]),
    );
    assert.deepEqual(parsed, VARS);
    assert.deepEqual(Object.keys(parsed), Object.keys(VARS).sort());
    assert.deepEqual(await c.list('LIST RW ups'), [
      'BEGIN LIST RW ups',
      'RW ups battery.charge.low "20"',
      'RW ups ups.beeper.status "enabled"',
      'RW ups ups.delay.shutdown "20"',
      'RW ups ups.id "rack #1"',
      'END LIST RW ups',
    ]);
    assert.deepEqual(await c.list('LIST CMD ups'), [
      'BEGIN LIST CMD ups',
      'CMD ups beeper.toggle',
      'CMD ups load.off.delay',
      'CMD ups shutdown.return',
      'END LIST CMD ups',
    ]);
    assert.deepEqual(await c.list('LIST ENUM ups ups.beeper.status'), [
      'BEGIN LIST ENUM ups ups.beeper.status',
      'ENUM ups ups.beeper.status "enabled"',
      'ENUM ups ups.beeper.status "disabled"',
      'ENUM ups ups.beeper.status "muted"',
      'END LIST ENUM ups ups.beeper.status',
    ]);
    assert.deepEqual(await c.list('LIST RANGE ups battery.charge.low'), [
      'BEGIN LIST RANGE ups battery.charge.low',
      'RANGE ups battery.charge.low "5" "90"',
      'END LIST RANGE ups battery.charge.low',
    ]);
    assert.deepEqual(await c.list('LIST ENUM ups battery.charge'), [
      'BEGIN LIST ENUM ups battery.charge',
      'END LIST ENUM ups battery.charge',
    ]);
    assert.deepEqual(await c.list('LIST ENUM ups nope'), ['ERR VAR-NOT-SUPPORTED']);
    assert.deepEqual(await c.list('LIST VAR nope'), ['ERR UNKNOWN-UPS']);
  });

  test('USERNAME/PASSWORD once each; LOGIN needs credentials and an upsmon role; one LOGIN per connection', async () => {
    const c = await h.client();
    assert.equal(await c.cmd('LOGIN ups'), 'ERR USERNAME-REQUIRED');
    assert.equal(await c.cmd('USERNAME mon'), 'OK');
    assert.equal(await c.cmd('USERNAME other'), 'ERR ALREADY-SET-USERNAME');
    assert.equal(await c.cmd('LOGIN ups'), 'ERR PASSWORD-REQUIRED');
    assert.equal(await c.cmd('PASSWORD monpass'), 'OK');
    assert.equal(await c.cmd('PASSWORD again'), 'ERR ALREADY-SET-PASSWORD');
    assert.equal(await c.cmd('LOGIN nope'), 'ERR UNKNOWN-UPS');
    assert.equal(await c.cmd('LOGIN ups'), 'OK');
    assert.equal(await c.cmd('LOGIN ups'), 'ERR ALREADY-LOGGED-IN');
    assert.equal(await c.cmd('GET NUMLOGINS ups'), 'NUMLOGINS ups 1');
    assert.equal(await c.cmd('LOGOUT'), 'OK Goodbye');
    await c.closedPromise;

    const wrong = await h.client();
    assert.equal(await wrong.cmd('USERNAME mon'), 'OK');
    assert.equal(await wrong.cmd('PASSWORD bad'), 'OK');
    assert.equal(await wrong.cmd('LOGIN ups'), 'ERR ACCESS-DENIED');
    const unknown = await h.client();
    await unknown.cmd('USERNAME ghost');
    await unknown.cmd('PASSWORD x');
    assert.equal(await unknown.cmd('LOGIN ups'), 'ERR ACCESS-DENIED');
    const noRole = await h.client();
    await noRole.cmd('USERNAME admin');
    await noRole.cmd('PASSWORD adminpass');
    assert.equal(await noRole.cmd('LOGIN ups'), 'ERR ACCESS-DENIED');
    // a hashed password works
    const nas = await h.client();
    await nas.login('nas', 'naspass');
    nas.destroy();
  });

  test('PRIMARY and MASTER need upsmon primary', async () => {
    const sec = await h.client();
    assert.equal(await sec.cmd('PRIMARY ups'), 'ERR USERNAME-REQUIRED');
    await sec.login('mon', 'monpass');
    assert.equal(await sec.cmd('PRIMARY ups'), 'ERR ACCESS-DENIED');
    assert.equal(await sec.cmd('MASTER ups'), 'ERR ACCESS-DENIED');
    const p = await h.client();
    await p.login('primary', 'primarypass');
    assert.equal(await p.cmd('PRIMARY ups'), 'OK PRIMARY-GRANTED');
    assert.equal(await p.cmd('MASTER ups'), 'OK MASTER-GRANTED');
    assert.equal(await p.cmd('PRIMARY other'), 'ERR UNKNOWN-UPS');
    sec.destroy();
    p.destroy();
  });

  test('SET VAR: credentials, actions=set, READONLY, INVALID-VALUE, SET-FAILED, escapes reach the source', async () => {
    const c = await h.client();
    assert.equal(await c.cmd('SET VAR ups ups.id "x"'), 'ERR USERNAME-REQUIRED');
    await c.cmd('USERNAME mon');
    await c.cmd('PASSWORD monpass');
    assert.equal(await c.cmd('SET VAR ups ups.id "x"'), 'ERR ACCESS-DENIED');
    const a = await h.client();
    await a.cmd('USERNAME admin');
    assert.equal(await a.cmd('SET VAR ups ups.id "x"'), 'ERR PASSWORD-REQUIRED');
    await a.cmd('PASSWORD adminpass');
    assert.equal(await a.cmd('SET VAR ups ups.id "rack \\"B\\" \\\\ 2"'), 'OK');
    assert.equal(await a.cmd('SET VAR ups battery.charge.low 30'), 'OK');
    assert.equal(await a.cmd('SET VAR ups battery.charge.low 95'), 'ERR INVALID-VALUE');
    assert.equal(await a.cmd('SET VAR ups ups.beeper.status loud'), 'ERR INVALID-VALUE');
    assert.equal(await a.cmd('SET VAR ups ups.delay.shutdown abc'), 'ERR INVALID-VALUE');
    assert.equal(await a.cmd('SET VAR ups battery.charge 5'), 'ERR READONLY');
    assert.equal(await a.cmd('SET VAR ups nope 5'), 'ERR VAR-NOT-SUPPORTED');
    assert.equal(await a.cmd('SET VAR other ups.id x'), 'ERR UNKNOWN-UPS');
    assert.equal(await a.cmd('SET VAR ups ups.id'), 'ERR INVALID-ARGUMENT');
    assert.deepEqual(h.source.calls.splice(0), ['SET ups.id=rack "B" \\ 2', 'SET battery.charge.low=30']);
    h.source.fail = true;
    assert.equal(await a.cmd('SET VAR ups ups.delay.shutdown 30'), 'ERR SET-FAILED');
    h.source.fail = false;
    h.source.calls.length = 0;
  });

  test('INSTCMD: instcmds grants, CMD-NOT-SUPPORTED, INSTCMD-FAILED, parameter, tracking', async () => {
    const c = await h.client();
    assert.equal(await c.cmd('INSTCMD ups beeper.toggle'), 'ERR USERNAME-REQUIRED');
    await c.cmd('USERNAME cmduser');
    await c.cmd('PASSWORD cmdpass');
    assert.equal(await c.cmd('INSTCMD ups beeper.toggle'), 'OK');
    assert.equal(await c.cmd('INSTCMD ups shutdown.return'), 'ERR ACCESS-DENIED');
    const a = await h.client();
    await a.cmd('USERNAME admin');
    await a.cmd('PASSWORD adminpass');
    assert.equal(await a.cmd('INSTCMD ups load.off.delay 120'), 'OK');
    assert.equal(await a.cmd('INSTCMD ups load.off'), 'ERR CMD-NOT-SUPPORTED');
    assert.equal(await a.cmd('INSTCMD other load.off'), 'ERR UNKNOWN-UPS');
    assert.equal(await a.cmd('INSTCMD ups'), 'ERR INVALID-ARGUMENT');
    assert.deepEqual(h.source.calls.splice(0), ['INSTCMD beeper.toggle', 'INSTCMD load.off.delay 120']);
    h.source.fail = true;
    assert.equal(await a.cmd('INSTCMD ups shutdown.return'), 'ERR INSTCMD-FAILED');
    assert.equal(await a.cmd('GET TRACKING'), 'OFF');
    assert.equal(await a.cmd('SET TRACKING ON'), 'OK');
    assert.equal(await a.cmd('GET TRACKING'), 'ON');
    const reply = (await a.cmd('INSTCMD ups shutdown.return'))!;
    const m = /^OK TRACKING ([0-9a-f-]{36})$/.exec(reply);
    assert.ok(m, reply);
    assert.equal(await a.cmd(`GET TRACKING ${m[1]}`), 'ERR INSTCMD-FAILED');
    h.source.fail = false;
    const ok = /^OK TRACKING (\S+)$/.exec((await a.cmd('INSTCMD ups beeper.toggle'))!)!;
    assert.equal(await a.cmd(`GET TRACKING ${ok[1]}`), 'SUCCESS');
    assert.equal(await a.cmd('GET TRACKING nope'), 'ERR INVALID-ARGUMENT');
    h.source.calls.length = 0;
  });

  test('LIST CLIENT shows logged-in clients', async () => {
    const c = await h.client();
    await c.login('web', 'webpass');
    const lines = await c.list('LIST CLIENT ups');
    assert.equal(lines[0], 'BEGIN LIST CLIENT ups');
    assert.ok(lines.includes('CLIENT ups 127.0.0.1'));
    assert.equal(lines.at(-1), 'END LIST CLIENT ups');
    c.destroy();
  });
});
