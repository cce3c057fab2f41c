/**
 * `upsfleet demo`: a master on a simulated UPS and 6 dry-run agents in 3 groups as real processes on
 * 127.0.0.1; plays an outage and prints the timeline. Exits 0 only if every agent was confirmed in
 * order and killpower came last.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { demoFleet } from '../demo/demo-fleet.js';
import { launchFleet, waitForAgents } from '../demo/fleet-launcher.js';
import { formatTimeline } from '../demo/format-timeline.js';
import { type CommandHandler, ExitCodes } from './command.js';

export const demoCommand: CommandHandler = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: { keep: { type: 'boolean', default: false } },
    strict: true,
  });
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-demo-'));
  const spec = demoFleet(dir);
  io.stdout(`upsfleet demo in ${dir}\n`);
  io.stdout(
    `fleet: ${spec.groups.map((g) => `${g.name} [${g.agents.join(', ')}]`).join(' -> ')} -> master\n`,
  );
  const fleet = await launchFleet(spec);
  let ok = false;
  try {
    await waitForAgents(fleet, 20_000);
    io.stdout(
      `master at ${fleet.httpUrl}; all ${fleet.agents.length} agents connected (dry-run); playing a 4-minute outage at 20x\n\n`,
    );
    await fleet.waitForJournal((j) => j.some((e) => e.kind === 'master-poweroff'), 90_000);
    const journal = fleet.journal();
    for (const line of formatTimeline(journal)) io.stdout(`${line}\n`);
    io.stdout('\n');
    const missing = fleet.agents.filter((a) => !existsSync(a.marker)).map((a) => a.id);
    const markers = fleet.agents
      .filter((a) => existsSync(a.marker))
      .map((a) => ({ id: a.id, ...(JSON.parse(readFileSync(a.marker, 'utf8')) as { ts: number }) }));
    for (const m of markers.sort((a, b) => a.ts - b.ts))
      io.stdout(`dry-run marker: ${m.id} would have powered off at ${new Date(m.ts).toISOString()}\n`);
    ok = missing.length === 0;
    if (!ok) io.stderr(`agents without a dry-run marker: ${missing.join(', ')}\n`);
  } catch (err) {
    io.stderr(`demo failed: ${(err as Error).message}\nlogs are in ${join(dir, 'logs')}\n`);
  } finally {
    await fleet.stop();
    if (ok && !values.keep) rmSync(dir, { recursive: true, force: true });
  }
  io.stdout(ok ? '\ndemo complete: every machine went down in order, killpower last.\n' : '');
  return ok ? ExitCodes.OK : ExitCodes.FAILURE;
};
