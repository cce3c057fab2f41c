/**
 * A fleet on a test network (net-lab.ts): the master and every agent each in a network namespace of
 * their own, on one bridge, so that one host can be unplugged, delayed or partitioned while the others
 * go on. The shape is the fault suite's usual one (app1, app2 in step 1; db1 in step 2), with short
 * deadlines and deadtimes so a scenario ends in well under a minute.
 */
import {
  type FleetSpec,
  launchFleet,
  type RunningFleet,
  waitForAgents,
} from '../../cli/demo/fleet-launcher.js';
import { createNetLab, type NetLab } from './net-lab.js';

export interface NetFleetOptions {
  dir: string;
  /** Agents of step 1 (default app1, app2) and step 2 (default db1). */
  stepOne?: string[];
  stepTwo?: string[];
  deadline?: string;
  agentDeadtime?: string;
  lostMasterSpacing?: string;
  /** A command prefix after `ip netns exec NS` for one host (e.g. faketime). */
  extraWrap?: (who: string) => string[];
  /** The master URLs an agent dials (default the master's own), e.g. a relay in its namespace. */
  agentMasterUrls?: (id: string, masterUrl: string, lab: NetLab) => string[];
  /** Called with the lab before anything starts (a relay or capture started inside a namespace). */
  beforeStart?: (lab: NetLab) => Promise<void> | void;
  masterExtra?: Record<string, unknown>;
  /** The agents' reconnect backoff (default the launcher's quick one; null: the agent's own defaults). */
  agentReconnect?: FleetSpec['agentReconnect'];
}

export interface NetFleet {
  lab: NetLab;
  fleet: RunningFleet;
  stop(): Promise<void>;
}

export async function netFleet(opts: NetFleetOptions): Promise<NetFleet> {
  const stepOne = opts.stepOne ?? ['app1', 'app2'];
  const stepTwo = opts.stepTwo ?? ['db1'];
  const lab = createNetLab(['master', ...stepOne, ...stepTwo]);
  let fleet: RunningFleet | undefined;
  try {
    await opts.beforeStart?.(lab);
    fleet = await launchFleet({
      dir: opts.dir,
      groups: [
        { name: 'app', agents: stepOne },
        { name: 'db', agents: stepTwo },
      ],
      sequence: [
        { groups: ['app'], deadline: opts.deadline ?? '15s', settle: '0s' },
        { groups: ['db'], deadline: opts.deadline ?? '15s', settle: '0s' },
      ],
      timeline: 'ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n',
      debounce: '1s',
      fixedPort: true,
      masterHost: lab.address('master'),
      wrap: (who) => [...lab.wrap(who), ...(opts.extraWrap?.(who) ?? [])],
      ...(opts.agentMasterUrls
        ? { agentMasterUrls: (id: string, url: string) => opts.agentMasterUrls!(id, url, lab) }
        : {}),
      agentDeadtime: opts.agentDeadtime ?? '8s',
      ...(opts.agentReconnect !== undefined ? { agentReconnect: opts.agentReconnect } : {}),
      lostMasterSpacing: opts.lostMasterSpacing ?? '6s',
      masterExtra: {
        ups: { name: 'ups', source: { type: 'simulated', timeline: 'outage.seq', persist: true } },
        ...(opts.masterExtra ?? {}),
      },
    });
    await waitForAgents(fleet, 60_000);
  } catch (err) {
    await fleet?.stop();
    lab.destroy();
    throw err;
  }
  const running = fleet;
  return {
    lab,
    fleet: running,
    stop: async () => {
      await running.stop();
      lab.destroy();
    },
  };
}
