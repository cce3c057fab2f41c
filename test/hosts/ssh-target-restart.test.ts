/**
 * An SSH target and a master that dies mid-step, on a real host: a Debian 12 systemd-nspawn container with
 * its own sshd, and a real master process killed by its failpoint right after it journaled that the target
 * accepted its power-off command. The master started again must not run the command a second time (the
 * journal has no resend or second order) and must confirm the host down by its SSH port going unreachable
 * after the restart, so the step ends confirmed, not at its deadline.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchFleet, type RunningFleet } from '../../cli/demo/fleet-launcher.js';
import { pollFor } from '../support/poll.js';
import { DEPLOY_USER } from './base-root.js';
import { createHostFleet, type HostFleet, hostFleetSkipReason, type TestHost } from './host-fleet.js';

const skip = hostFleetSkipReason();
const DEADLINE_S = 120;

type Rec = Record<string, unknown> & { kind: string; event?: string; memberId?: string; ts: number };
interface Status {
  agents: Array<{ id: string; connected: boolean }>;
  sequence: { runId: string | null; steps: Array<{ endedBy: string | null }> };
}

describe('an SSH target across a master crash, on a real host', {
  skip: skip ? `host fleet unavailable: ${skip}` : false,
}, () => {
  let hosts: HostFleet;
  let fleet: RunningFleet;
  let work: string;
  let nas: TestHost;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'upsfleet-hosts-ssh-restart-'));
    hosts = await createHostFleet([{ name: 'nas3' }]);
    nas = hosts.hosts.get('nas3')!;
    const key = await nas.ssh('cat /etc/ssh/ssh_host_ed25519_key.pub');
    assert.equal(key.code, 0, key.out);
    fleet = await launchFleet({
      dir: join(work, 'fleet'),
      groups: [],
      sequence: [{ groups: ['first'], deadline: `${DEADLINE_S}s`, settle: '0s' }],
      timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 3600\n',
      fixedPort: true,
      masterEnv: { UPSFLEET_CRASH_AFTER: 'sequence:going-down#1' },
      masterExtra: {
        sshTargets: [
          {
            id: 'nas3',
            group: 'first',
            address: nas.address,
            user: DEPLOY_USER,
            key: hosts.keyFile,
            hostKey: key.out.trim(),
            probeInterval: '10s',
            connectTimeout: '3s',
          },
        ],
      },
    });
    await pollFor(
      'nas3 connected',
      async () => {
        const s = await fleet.getJson<Status>('/status');
        return s.agents.find((a) => a.id === 'nas3')?.connected ? true : undefined;
      },
      120_000,
    );
  });

  after(async () => {
    await fleet?.stop();
    await hosts?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('killed right after the command was accepted: not ordered again, confirmed down after the restart', {
    timeout: 300_000,
  }, async () => {
    const off = nas.waitPoweredOff(240_000);
    await fleet.admin('/api/fsd', { reason: 'ssh target restart test' });
    await pollFor('the failpoint', () => (fleet.master.signalCode === 'SIGKILL' ? true : undefined), 60_000);
    const atCrash = fleet.journal() as Rec[];
    assert.equal(atCrash.at(-1)?.event, 'going-down', 'killed right after the going-down record');
    await fleet.restartMaster({ signal: null });
    await off;
    const s = await pollFor(
      'step 1 ended',
      async () => {
        const s = await fleet.getJson<Status>('/status');
        return s.sequence.steps[0]?.endedBy ? s : undefined;
      },
      (DEADLINE_S + 60) * 1000,
    );
    assert.equal(s.sequence.steps[0]!.endedBy, 'confirmed');
    const all = fleet.journal() as Rec[];
    const resume = all.find((r) => r.kind === 'resume');
    assert.ok(resume, 'the restarted master resumed from its journal');
    const nas3 = all.filter((r) => r.kind === 'sequence' && r.memberId === 'nas3').map((r) => r.event);
    assert.deepEqual(nas3, ['order', 'ack', 'progress', 'progress', 'going-down', 'down']);
    const down = all.find((r) => r.event === 'down' && r.memberId === 'nas3')!;
    assert.ok(down.ts > resume.ts, 'confirmed by the restarted master');
    assert.match(String(down.detail), /^port 22 unreachable for \d+(\.\d)?s$/);
    assert.ok(!nas.running, 'the host is off');
  });
});
