/**
 * `upsfleet monitor` under a real pseudo-terminal (util-linux `script`) against a real master on a simulated UPS
 * with real dry-run agents over TLS, the certificate pinned with --fingerprint: it draws the UPS and every agent
 * full screen, redraws when the UPS state changes (pushed by the master), and quits on q, restoring the screen.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g');

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

describe('upsfleet monitor in a terminal', { skip: !HAS_SCRIPT && 'no script(1) (util-linux)' }, () => {
  let dir: string;
  let fleet: RunningFleet;
  let child: ChildProcess | null = null;
  let raw = '';

  const screen = () => raw.replace(ANSI, '');
  const waitForScreen = async (text: string, timeoutMs: number) => {
    const until = Date.now() + timeoutMs;
    while (!screen().includes(text)) {
      if (Date.now() > until)
        throw new Error(`"${text}" never drawn; the terminal showed:\n${screen().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-monitor-'));
    fleet = await launchFleet({
      dir,
      groups: [
        { name: 'vms', agents: ['vm1', 'vm2'] },
        { name: 'db', agents: ['db1'] },
      ],
      sequence: [{ groups: ['vms'] }, { groups: ['db'] }],
      timeline:
        'ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 1800\ninput.voltage: 230\nTIMER 100000\n',
    });
    await waitForAgents(fleet, 30_000);
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws, follows a state change, quits on q', async () => {
    assert.ok(fleet.fingerprint, 'the fleet runs TLS');
    const cmd = [
      process.execPath,
      '--import',
      'tsx',
      CLI,
      'monitor',
      fleet.httpUrl,
      '--fingerprint',
      fleet.fingerprint,
    ]
      .map(shellQuote)
      .join(' ');
    // a pty of a known size, whatever runs the test
    child = spawn('script', ['-q', '-e', '-c', `stty rows 50 cols 160; exec ${cmd}`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TERM: 'xterm-256color' },
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (t: string) => {
      raw += t;
    });
    child.stderr?.on('data', (t: Buffer) => {
      raw += t.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    await waitForScreen('on line (mains), charging', 20_000);
    assert.ok(raw.includes(`${ESC}[?1049h`), 'full screen (the alternate screen)');
    for (const id of ['vm1', 'vm2', 'db1']) await waitForScreen(id, 5000);
    await waitForScreen('step 1: vms', 1000);
    await waitForScreen('step 2: db', 1000);
    await waitForScreen('charge [####################] 100%', 1000);

    const started = Date.now();
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OL BOOST' });
    await waitForScreen('boosting voltage', 2000);
    const took = Date.now() - started;
    assert.ok(took < 2000, `redrawn ${took} ms after the change`);
    await fleet.admin('/api/simulate', { name: 'battery.charge', value: '50' });
    await waitForScreen('charge [##########----------] 50%', 2000);

    child.stdin?.write('q');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    assert.equal(code, 0, `monitor exited with ${String(code)}`);
    assert.ok(raw.includes(`${ESC}[?1049l`), 'the screen is restored on quit');
  });
});
