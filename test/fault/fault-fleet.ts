/**
 * What the fault suite shares: a small fleet of real master and agent processes (dry-run, TLS, fixed
 * port so a restarted master is found again) on a simulated UPS whose state survives a master restart,
 * driven live through the admin API; and readers for the evidence the tests assert on: the agents'
 * markers, the UPS's own record of instant commands, and the master's journal.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FleetSpec,
  launchFleet,
  type RunningFleet,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';

export type Entry = Record<string, unknown>;

export interface FaultFleetOptions {
  dir: string;
  /** Early groups (name -> trigger) besides the two steps app (app1, app2) and db (db1). */
  early?: Record<
    string,
    {
      trigger: Record<string, string>;
      agents: string[];
      hooks?: FleetSpec['groups'][number]['hooks'];
      /** The group's `wake:` section (docs/WAKE.md). */
      wake?: Record<string, unknown>;
    }
  >;
  /** Hooks of the app group (app2 is made slower to keep step 1 open). */
  appHooks?: FleetSpec['groups'][number]['hooks'];
  masterEnv?: Record<string, string>;
}

export async function faultFleet(opts: FaultFleetOptions): Promise<RunningFleet> {
  const early = opts.early ?? {};
  const fleet = await launchFleet({
    dir: opts.dir,
    groups: [
      ...Object.entries(early).map(([name, g]) => ({
        name,
        agents: g.agents,
        ...(g.hooks ? { hooks: g.hooks } : {}),
      })),
      { name: 'app', agents: ['app1', 'app2'], ...(opts.appHooks ? { hooks: opts.appHooks } : {}) },
      { name: 'db', agents: ['db1'] },
    ],
    sequence: [
      { groups: ['app'], deadline: '40s', settle: '0s' },
      { groups: ['db'], deadline: '40s', settle: '0s' },
    ],
    timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
    debounce: '1s',
    fixedPort: true,
    ...(opts.masterEnv ? { masterEnv: opts.masterEnv } : {}),
    masterExtra: {
      ups: { name: 'ups', source: { type: 'simulated', timeline: 'outage.seq', persist: true } },
      groups: Object.fromEntries(
        Object.entries(early).map(([name, g]) => [
          name,
          { trigger: g.trigger, deadline: '40s', settle: '0s', ...(g.wake ? { wake: g.wake } : {}) },
        ]),
      ),
    },
  });
  await waitForAgents(fleet, 30_000);
  return fleet;
}

/** The UPS on battery (and low) as a real UPS reports it. */
export async function onBattery(fleet: RunningFleet, low = false): Promise<void> {
  if (low) await fleet.admin('/api/simulate', { name: 'battery.charge', value: '5' });
  await fleet.admin('/api/simulate', { name: 'ups.status', value: low ? 'OB DISCHRG LB' : 'OB DISCHRG' });
}

export function marker(fleet: RunningFleet, id: string): PowerOffMarker | null {
  const file =
    id === 'master'
      ? join(fleet.dir, 'markers', 'master.poweroff')
      : fleet.agents.find((a) => a.id === id)!.marker;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PowerOffMarker) : null;
}

/** Instant commands the simulated UPS accepted, across every master process (its own file). */
export function upsCommands(fleet: RunningFleet): Array<{ name: string; at: number }> {
  const file = join(fleet.dir, 'master', 'state', 'simulated-ups.commands.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { name: string; at: number });
}

export const seq = (j: Entry[], event: string) => j.filter((e) => e.kind === 'sequence' && e.event === event);

export async function waitUntil(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The master's final step is journaled: the run is over. */
export const runFinished = (fleet: RunningFleet) => () =>
  fleet.journal().some((e) => e.kind === 'master-poweroff');

/**
 * The guarantees every scenario checks, from markers, the UPS's command file and the journal: every
 * agent of the run is down exactly once with the order id the journal gave it, step 1 is down before
 * step 2 is ordered, killpower reached the UPS exactly once and after every agent was down, and the
 * master's own power-off came last.
 */
export function assertWholeRun(fleet: RunningFleet, check: (ok: boolean, msg: string) => void): void {
  const j = fleet.journal();
  const starts = seq(j, 'sequence-start').filter((e) => e.drill !== true);
  check(starts.length === 1, `one real run (found ${starts.length})`);
  const runId = starts[0]?.runId;
  const orderOf = (id: string) =>
    j.find(
      (e) =>
        e.kind === 'sequence' &&
        e.runId === runId &&
        e.memberId === id &&
        (e.event === 'order' || e.event === 'offline'),
    )?.orderId;
  for (const id of ['app1', 'app2', 'db1']) {
    const m = marker(fleet, id);
    check(m !== null, `${id} wrote its marker`);
    check(
      m?.orderId === orderOf(id),
      `${id} acted on the journaled order id (${m?.orderId} vs ${orderOf(id)})`,
    );
    const downs = j.filter(
      (e) => e.kind === 'sequence' && e.event === 'down' && e.memberId === id && e.runId === runId,
    );
    check(downs.length === 1, `${id} confirmed down once (${downs.length})`);
    const downIdx = j.indexOf(downs[0]!);
    const after = j
      .slice(downIdx + 1)
      .filter((e) => e.memberId === id && (e.event === 'order' || e.event === 'resend'));
    check(after.length === 0, `${id} never ordered again after it was down`);
  }
  const stepOneDown = Math.max(marker(fleet, 'app1')?.ts ?? 0, marker(fleet, 'app2')?.ts ?? 0);
  const stepTwoOrdered = marker(fleet, 'db1')?.orderReceivedAt ?? 0;
  check(
    stepOneDown < stepTwoOrdered,
    `step 2 ordered at ${stepTwoOrdered} after step 1 was down at ${stepOneDown}`,
  );
  const kp = upsCommands(fleet).filter((c) => c.name === 'shutdown.return');
  check(kp.length === 1, `killpower reached the UPS exactly once (${kp.length})`);
  const lastAgentDown = Math.max(
    ...fleet.agents.map((a) => marker(fleet, a.id)?.ts ?? Number.POSITIVE_INFINITY),
  );
  check((kp[0]?.at ?? 0) > lastAgentDown, 'killpower after every agent was down');
  const master = marker(fleet, 'master');
  check(
    master !== null && master.ts >= (kp[0]?.at ?? Number.POSITIVE_INFINITY),
    'the master powered off last',
  );
  check(j.filter((e) => e.kind === 'master-poweroff').length === 1, 'one master power-off in the journal');
}
