/** What the demo fleet's outage must show in its agents' dry-run markers, whatever carried the agents. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { RunningFleet } from '../../cli/demo/fleet-launcher.js';
import type { PowerOffMarker } from '../../shared/exec/power-off.js';

/** The demo's steps, in order (cli/demo/demo-fleet.ts). */
export const DEMO_STEPS = [
  ['vm-lab1', 'vm-lab2'],
  ['app1', 'app2'],
  ['db1', 'db2'],
];

export function demoMarker(fleet: RunningFleet, id: string): PowerOffMarker {
  const a = fleet.agents.find((x) => x.id === id)!;
  assert.ok(existsSync(a.marker), `${id} wrote no dry-run marker`);
  return JSON.parse(readFileSync(a.marker, 'utf8')) as PowerOffMarker;
}

/** Every agent of step n went down before any agent of step n+1 received its order. */
export function assertStepsInOrder(fleet: RunningFleet): void {
  for (let n = 0; n + 1 < DEMO_STEPS.length; n++) {
    const lastDown = Math.max(...DEMO_STEPS[n]!.map((id) => demoMarker(fleet, id).ts));
    const firstOrder = Math.min(...DEMO_STEPS[n + 1]!.map((id) => demoMarker(fleet, id).orderReceivedAt!));
    assert.ok(
      lastDown < firstOrder,
      `step ${n + 2} ordered at ${firstOrder} before step ${n + 1} was down at ${lastDown}`,
    );
  }
}
