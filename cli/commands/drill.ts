/**
 * `upsfleet drill [--master URL] [--token T] [--json]`: runs the whole shutdown sequence across the live fleet
 * with every agent in drill mode (orders, acks and drill-safe hooks are real; no power-off, no killpower),
 * prints the progress step by step and host by host, then the master's report. Exit 0 when the drill passed,
 * 1 with failures, 4 master unreachable, 6 admin token refused.
 */
import { parseArgs } from 'node:util';
import type { DrillReport } from '../../master/drill/drill-report.js';
import type { SequenceView } from '../../master/sequencer/sequence-view.js';
import { pinnedRequest } from '../../shared/tls/pinned-request.js';
import { DrillProgress } from '../drill/drill-progress.js';
import { formatDrillReport } from '../drill/format-drill-report.js';
import { type CommandHandler, ExitCodes } from './command.js';
import {
  cliFingerprints,
  FINGERPRINT_OPTION,
  getStatus,
  httpBase,
  plaintextRefusal,
  useFingerprint,
} from './master-client.js';
import { hostMaster } from './master-from-config.js';

const USAGE = 'usage: upsfleet drill [--master URL] [--token T] [--json] [--timeout SECONDS]\n';

export const drillCommand: CommandHandler = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      master: { type: 'string', short: 'm' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '1800' },
      interval: { type: 'string', default: '200' },
      ...FINGERPRINT_OPTION,
    },
    strict: true,
  });
  // no --master: on the master host its own config names it (URL and certificate fingerprint)
  const host = values.master === undefined ? hostMaster() : undefined;
  useFingerprint(values.fingerprint ?? host?.fingerprint);
  const master = values.master ?? host?.url ?? 'http://127.0.0.1:8740';
  const token = values.token ?? process.env.UPSFLEET_ADMIN_TOKEN;
  if (!token) {
    io.stderr(`upsfleet drill: an admin token is required (--token or UPSFLEET_ADMIN_TOKEN)\n${USAGE}`);
    return ExitCodes.USAGE;
  }
  const refused = plaintextRefusal('drill', master, io);
  if (refused !== null) return refused;
  const timeoutMs = Number(values.timeout) * 1000;
  const intervalMs = Number(values.interval);
  if (!(timeoutMs > 0) || !(intervalMs > 0)) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }

  let res: { status: number; text: string };
  try {
    res = await pinnedRequest(`${httpBase(master)}/api/drill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
      fingerprints: cliFingerprints(),
    });
  } catch (err) {
    io.stderr(`cannot reach the master at ${httpBase(master)}: ${(err as Error).message}\n`);
    return ExitCodes.UNREACHABLE;
  }
  if (res.status !== 200) {
    io.stderr(`master refused the drill (${res.status}): ${res.text.trim()}\n`);
    return res.status === 401 ? ExitCodes.PERMISSION : ExitCodes.FAILURE;
  }
  const runId = (JSON.parse(res.text) as { runId?: string }).runId;
  if (!runId) {
    io.stderr('the master did not say which run it started (an older master?)\n');
    return ExitCodes.FAILURE;
  }
  const progress = new DrillProgress(runId);
  if (!values.json)
    io.stdout(
      `drill ${runId} started on ${httpBase(master)}: agents run their drill-safe hooks and do not power off\n`,
    );

  const until = Date.now() + timeoutMs;
  for (;;) {
    let status: Record<string, unknown>;
    try {
      status = await getStatus(master);
    } catch (err) {
      io.stderr(`lost the master during the drill: ${(err as Error).message}\n`);
      return ExitCodes.UNREACHABLE;
    }
    const view = status.sequence as SequenceView;
    if (view.runId !== runId) {
      io.stderr(
        `the drill gave way to ${view.drill ? 'another drill' : 'a REAL shutdown sequence'} (${view.runId})\n`,
      );
      return ExitCodes.FAILURE;
    }
    if (!values.json) for (const line of progress.update(view)) io.stdout(`${line}\n`);
    const report = status.lastDrill as DrillReport | null;
    if (report?.runId === runId) {
      io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${formatDrillReport(report)}`);
      return report.ok ? ExitCodes.OK : ExitCodes.FAILURE;
    }
    if (Date.now() > until) {
      io.stderr(`the drill did not finish within ${timeoutMs / 1000} s (state ${view.state})\n`);
      return ExitCodes.FAILURE;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
};
