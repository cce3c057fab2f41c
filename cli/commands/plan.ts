/**
 * `upsfleet plan [--master URL] [--json]`: the battery budget. Each step's duration as the last drill
 * measured it (else its deadline), the master's final step, the margin, and whether it all fits in the
 * UPS's current battery.runtime. Exit 0 when it fits (or no runtime is reported), 1 when it does not.
 */
import { parseArgs } from 'node:util';
import type { PlanView } from '../../master/plan/plan.js';
import { table } from '../format/table.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { FINGERPRINT_OPTION, getStatus, httpBase, useFingerprint } from './master-client.js';
import { hostMaster } from './master-from-config.js';

function s(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`;
}

export function formatPlan(plan: PlanView): string {
  const lines = [
    table([
      ['STEP', 'GROUPS', 'DURATION', 'FROM'],
      ...plan.steps.map((st) => [
        String(st.index),
        st.groups.join(','),
        s(st.durationMs),
        st.from === 'drill' ? 'last drill' : 'deadline (not measured)',
      ]),
      ['final', '(master)', s(plan.finalMs), plan.drill ? 'last drill' : 'not measured'],
    ]),
    '',
    `required: ${s(plan.requiredMs)} + margin ${s(plan.marginMs)} = ${s(plan.requiredMs + plan.marginMs)}`,
    `battery.runtime now: ${plan.runtimeMs === null ? 'not reported by the UPS' : s(plan.runtimeMs)}`,
    plan.fits === null
      ? 'verdict: unknown (no battery.runtime)'
      : plan.fits
        ? `verdict: FITS, ${s(plan.spareMs)} to spare`
        : `verdict: DOES NOT FIT, ${s(plan.spareMs === null ? null : -plan.spareMs)} short: shorten the steps, raise the critical thresholds or add battery`,
    plan.drill
      ? `measured by drill ${plan.drill.runId} at ${new Date(plan.drill.at).toISOString()}`
      : 'no drill yet: run `upsfleet drill` to measure the steps',
  ];
  return `${lines.join('\n')}\n`;
}

export const planCommand: CommandHandler = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      master: { type: 'string', short: 'm' },
      json: { type: 'boolean', default: false },
      ...FINGERPRINT_OPTION,
    },
    strict: true,
  });
  // no --master: on the master host its own config names it (URL and certificate fingerprint)
  const host = values.master === undefined ? hostMaster() : undefined;
  useFingerprint(values.fingerprint ?? host?.fingerprint);
  const master = values.master ?? host?.url ?? 'http://127.0.0.1:8740';
  let status: Record<string, unknown>;
  try {
    status = await getStatus(master);
  } catch (err) {
    io.stderr(`cannot read the master's status at ${httpBase(master)}: ${(err as Error).message}\n`);
    return ExitCodes.UNREACHABLE;
  }
  const plan = status.plan as PlanView | undefined;
  if (!plan) {
    io.stderr('this master does not report a plan (an older version?)\n');
    return ExitCodes.FAILURE;
  }
  io.stdout(values.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
  return plan.fits === false ? ExitCodes.FAILURE : ExitCodes.OK;
};
