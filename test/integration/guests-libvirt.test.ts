/**
 * The libvirt guest preset against a real libvirt: libvirtd (as nobody, in a temporary directory)
 * serving libvirt's test driver, the preset calling the real virsh for every step. Domains go from
 * running to shut off in the configured order, each reported; a drill lists and stops nothing; a domain
 * that ignores its shutdown is destroyed after forceAfter and reported forced; after power returns the
 * record starts them again, once. Skipped with the reason where libvirt is not installed or not root.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GuestRestarter } from '../../agent/guest-restarter.js';
import { systemClock } from '../../shared/clock.js';
import { parseAgentSettings } from '../../shared/config/agent-settings.js';
import type { HookSpec } from '../../shared/config/resolved.js';
import { type HookProgress, runHooks } from '../../shared/exec/hook-runner.js';
import { listRecords } from '../../shared/guests/guest-record.js';
import type { GuestReport } from '../../shared/guests/stop-guests.js';
import { silentLogger } from '../../shared/logger.js';
import { type LibvirtSandbox, libvirtSkipReason, startLibvirtSandbox } from '../support/libvirt-sandbox.js';

const skip = libvirtSkipReason();

function hooksOf(yaml: string, stateDir: string): HookSpec[] {
  return parseAgentSettings(
    `agent: { id: host1, group: vms, token: "0123456789abcdef", stateDir: "${stateDir}" }\nmaster: { urls: ["ws://127.0.0.1:1"] }\n${yaml}`,
    join(stateDir, 'agent.yaml'),
  ).hooks;
}

/** The guest news in the order the hook runner reported it. */
function guestNews(progress: HookProgress[]): GuestReport[] {
  return progress.flatMap((p) => (p.guest ? [p.guest] : []));
}

describe('libvirt guest preset on a real libvirtd (test driver)', { skip: skip ?? false }, () => {
  let lv: LibvirtSandbox;
  let stateDir: string;

  before(async () => {
    lv = await startLibvirtSandbox();
    stateDir = join(lv.dir, 'agent-state');
    for (const d of ['db1', 'web1', 'web2']) lv.startDomain(d);
    // the test driver's own `test` domain runs too: it is excluded, so it must stay running throughout
    assert.deepEqual(lv.states(), { test: 'running', db1: 'running', web1: 'running', web2: 'running' });
  });

  after(async () => {
    await lv?.stop();
  });

  const presetYaml = (extra = '') =>
    `hooks:\n  - { name: stop vms, preset: libvirt, uri: "${lvUri()}", timeout: 30s, destroyAfter: 20s, order: [db*], exclude: [test], restartAfterPower: true${extra} }\n`;
  const lvUri = () => lv.uri;

  it('in a drill lists the running domains in their stop order and stops nothing', async () => {
    const progress: HookProgress[] = [];
    const summary = await runHooks(hooksOf(presetYaml(), stateDir), {
      logger: silentLogger(),
      drill: true,
      stateDir,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(summary.failures, 0);
    const outcome = summary.outcomes[0]!;
    assert.equal(outcome.status, 'ok');
    assert.deepEqual(
      outcome.guests?.map((g) => [g.name, g.state]),
      [
        ['db1', 'would-stop'],
        ['web1', 'would-stop'],
        ['web2', 'would-stop'],
      ],
    );
    assert.deepEqual(
      guestNews(progress).map((g) => g.name),
      ['db1', 'web1', 'web2'],
    );
    assert.deepEqual(lv.states(), { test: 'running', db1: 'running', web1: 'running', web2: 'running' });
    assert.equal(listRecords(stateDir).length, 0, 'a drill records nothing to restart');
  });

  it('stops the domains in the configured order, waits until each is off, reports each and records them', async () => {
    const progress: HookProgress[] = [];
    // what libvirt says at the moment each guest is reported off (a synchronous look, in the callback)
    const seenWhenOff = new Map<string, Record<string, string>>();
    const summary = await runHooks(hooksOf(presetYaml(), stateDir), {
      logger: silentLogger(),
      stateDir,
      onProgress: (p) => {
        progress.push(p);
        if (p.guest?.state === 'stopped') seenWhenOff.set(p.guest.name, lv.states());
      },
    });
    assert.equal(summary.failures, 0, JSON.stringify(summary.outcomes));
    const news = guestNews(progress);
    // db1 first, alone; then web1 and web2 together
    assert.deepEqual(
      news.slice(0, 2).map((g) => [g.name, g.state]),
      [
        ['db1', 'stopping'],
        ['db1', 'stopped'],
      ],
    );
    assert.deepEqual(
      new Set(news.slice(2).map((g) => `${g.name} ${g.state}`)),
      new Set(['web1 stopping', 'web1 stopped', 'web2 stopping', 'web2 stopped']),
    );
    assert.equal(seenWhenOff.get('db1')?.db1, 'shut off');
    assert.equal(seenWhenOff.get('db1')?.web1, 'running', 'web1 was still running when db1 was off');
    assert.equal(seenWhenOff.get('db1')?.web2, 'running');
    for (const g of news.filter((n) => n.state === 'stopped'))
      assert.ok(typeof g.durationMs === 'number' && g.durationMs >= 0, `${g.name} has its duration`);
    assert.deepEqual(
      summary.outcomes[0]!.guests?.map((g) => [g.name, g.state]),
      [
        ['db1', 'stopped'],
        ['web1', 'stopped'],
        ['web2', 'stopped'],
      ],
    );
    assert.deepEqual(lv.states(), { test: 'running', db1: 'shut off', web1: 'shut off', web2: 'shut off' });
    const records = listRecords(stateDir);
    assert.equal(records.length, 1);
    assert.deepEqual(
      records[0]!.record?.guests.map((g) => g.name),
      ['db1', 'web1', 'web2'],
    );
    assert.equal(records[0]!.record?.restart, 'on-line');
  });

  it('after power returns starts the recorded domains again, once', async () => {
    const restarted: string[] = [];
    const restarter = new GuestRestarter({
      stateDir,
      clock: systemClock,
      logger: silentLogger(),
      isShuttingDown: () => false,
      onRestarted: (r) => restarted.push(...r.guests.map((g) => `${g.name} ${g.state}`)),
    });
    restarter.check();
    restarter.observeStatus('OB DISCHRG');
    await restarter.idle();
    assert.deepEqual(restarted, [], 'nothing starts while on battery');
    assert.equal(lv.states().db1, 'shut off');
    restarter.observeStatus('OL CHRG');
    await restarter.idle();
    assert.deepEqual(restarted, ['db1 started', 'web1 started', 'web2 started']);
    assert.deepEqual(lv.states(), { test: 'running', db1: 'running', web1: 'running', web2: 'running' });
    assert.equal(listRecords(stateDir).length, 0, 'the record is gone');
    assert.equal(readdirSync(join(stateDir, 'guests')).length, 0, 'nothing claimed is left');
    // a second look (another agent start, another on-line) finds nothing to start again
    lv.virsh('destroy', '--domain', 'web2');
    restarter.check();
    restarter.observeStatus('OL');
    await restarter.idle();
    assert.equal(restarted.length, 3);
    assert.equal(lv.states().web2, 'shut off', 'a record never restarts guests twice');
    lv.virsh('start', '--domain', 'web2');
  });

  it('destroys a domain that ignores its shutdown after forceAfter and reports it forced', async () => {
    // a guest without ACPI: libvirt accepts the shutdown request and the guest never acts on it
    const wrapper = join(lv.dir, 'virsh-stubborn-web2');
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase "$*" in *" shutdown --domain web2") echo "Domain 'web2' is being shutdown"; exit 0;; esac\nexec virsh "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const progress: HookProgress[] = [];
    const t0 = Date.now();
    const summary = await runHooks(
      hooksOf(
        `hooks:\n  - { preset: libvirt, uri: "${lv.uri}", command: "${wrapper}", timeout: 20s, forceAfter: 2s, exclude: [test] }\n`,
        join(lv.dir, 'state-forced'),
      ),
      { logger: silentLogger(), stateDir: join(lv.dir, 'state-forced'), onProgress: (p) => progress.push(p) },
    );
    assert.equal(summary.failures, 0, JSON.stringify(summary.outcomes));
    const final = new Map(summary.outcomes[0]!.guests?.map((g) => [g.name, g]));
    assert.equal(final.get('db1')?.state, 'stopped');
    assert.equal(final.get('web1')?.state, 'stopped');
    assert.equal(final.get('web2')?.state, 'forced');
    assert.ok((final.get('web2')?.durationMs ?? 0) >= 2_000, 'forced only after forceAfter');
    assert.ok(Date.now() - t0 < 15_000);
    assert.deepEqual(lv.states(), { test: 'running', db1: 'shut off', web1: 'shut off', web2: 'shut off' });
    assert.equal(
      existsSync(join(lv.dir, 'state-forced', 'guests')),
      false,
      'no restartAfterPower: nothing recorded',
    );
    assert.equal(
      guestNews(progress).find((g) => g.name === 'web2' && g.state === 'forced')?.name,
      'web2',
      'the forced stop is reported as such',
    );
    for (const d of ['db1', 'web1', 'web2']) lv.virsh('start', '--domain', d);
  });
});
