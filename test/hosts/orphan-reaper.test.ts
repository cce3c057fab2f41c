/**
 * A host fleet outlives no test process: a child process boots a one-host fleet and is killed with SIGKILL
 * (as the runner's per-file timeout ends a file, no after hook), and the fleet's watchdog stops the
 * container, unmounts its overlay, deletes its bridge, removes its directory and gives its subnet back.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLAIMS_DIR } from '../support/subnet-claim.js';
import { createHostFleet, hostFleetSkipReason } from './host-fleet.js';

const skip = hostFleetSkipReason();

// the child: boot one host, print where the fleet lives, wait to be killed
if (process.env.UPSFLEET_REAPER_CHILD) {
  const fleet = await createHostFleet([{ name: 'reaped' }]);
  const subnet = fleet.bridgeAddress.split('.').slice(0, 3).join('.');
  process.stdout.write(`${JSON.stringify({ dir: fleet.dir, bridge: fleet.bridge, subnet })}\n`);
  setInterval(() => {}, 1_000_000);
}

const nspawnOn = (dir: string) =>
  spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.startsWith('systemd-nspawn') && l.includes(`--directory=${dir}/`));

test('a fleet whose test process is killed is cleaned up by its watchdog', {
  skip: skip ?? (process.env.UPSFLEET_REAPER_CHILD ? 'the child' : false),
  timeout: 240_000,
}, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], {
    env: { ...process.env, UPSFLEET_REAPER_CHILD: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const fleet = await new Promise<{ dir: string; bridge: string; subnet: string }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { dir: string; bridge: string; subnet: string });
    });
    child.once('exit', (code) => reject(new Error(`the child exited ${code} before its fleet was up`)));
  });
  assert.equal(nspawnOn(fleet.dir).length, 1, 'the container is up');
  const claim = join(CLAIMS_DIR, fleet.subnet);
  assert.ok(existsSync(claim), `the subnet is claimed (${claim})`);
  child.kill('SIGKILL');

  const until = Date.now() + 120_000;
  const left = () => ({
    containers: nspawnOn(fleet.dir).length,
    mounts: readFileSync('/proc/mounts', 'utf8').includes(`${fleet.dir}/`),
    bridge: spawnSync('ip', ['link', 'show', fleet.bridge]).status === 0,
    dir: existsSync(join(fleet.dir)),
    claim: existsSync(claim),
  });
  let now = left();
  while (Date.now() < until && (now.containers > 0 || now.mounts || now.bridge || now.dir || now.claim)) {
    await new Promise((r) => setTimeout(r, 1000));
    now = left();
  }
  assert.deepEqual(now, { containers: 0, mounts: false, bridge: false, dir: false, claim: false });
});
