/** The embedded default fleet: 6 agents in 3 groups and a 10-minute outage played 20x faster. */
import type { FleetSpec } from './fleet-launcher.js';

export const DEMO_OUTAGE = `# mains fail, the battery drains, the UPS raises low battery; mains come back mid-sequence
ups.status: OL CHRG
battery.charge: 100
battery.runtime: 1800
input.voltage: 230
TIMER 100
ups.status: OB DISCHRG
input.voltage: 0
battery.charge: 92
battery.runtime: 1500
TIMER 60
battery.charge: 61
battery.runtime: 820
TIMER 60
ups.status: OB DISCHRG LB
battery.charge: 18
battery.runtime: 240
TIMER 60
ups.status: OL CHRG
input.voltage: 229
battery.charge: 19
battery.runtime: 250
TIMER 6000
`;

export function demoFleet(dir: string): FleetSpec {
  const hook = (what: string) => ({
    name: what,
    run: `echo "${what}"; sleep 0.2`,
    timeout: '10s',
    drillSafe: true,
  });
  return {
    dir,
    groups: [
      { name: 'vms', agents: ['vm-lab1', 'vm-lab2'], hooks: [hook('suspend virtual machines')] },
      {
        name: 'app',
        agents: ['app1', 'app2'],
        hooks: [hook('drain load balancer'), hook('stop app server')],
      },
      { name: 'db', agents: ['db1', 'db2'], hooks: [hook('checkpoint and stop database')] },
    ],
    sequence: [
      { groups: ['vms'], deadline: '20s', settle: '500ms' },
      { groups: ['app'], deadline: '20s', settle: '500ms' },
      { groups: ['db'], deadline: '20s', settle: '500ms' },
    ],
    timeline: DEMO_OUTAGE,
    speed: 20,
    debounce: '1s',
  };
}
