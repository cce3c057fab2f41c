/**
 * `upsfleet notify test [--config FILE] [URL...]`: sends one test message through every notification URL of
 * a master or agent config (`notify.urls`) and through each URL given, and says for each whether it
 * arrived. Secrets in the URLs are never printed (the redacted form is).
 */
import { parseArgs } from 'node:util';
import { loadAgentSettings } from '../../shared/config/agent-settings.js';
import { loadMasterSettings } from '../../shared/config/master-settings.js';
import { parseDuration } from '../../shared/duration.js';
import { isUpsfleetError } from '../../shared/errors.js';
import { DEFAULT_NOTIFY_SEND_TIMEOUT_MS, sendDelivery } from '../../shared/notify/notify-queue.js';
import { parseServiceUrl, type ServiceTarget, serviceMessage } from '../../shared/notify/service-url.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { configKind } from './config-check.js';

const USAGE = `usage: upsfleet notify test [--config FILE] [--timeout 10s] [URL...]
  sends a test message through each notification URL of FILE (notify.urls, master or agent config)
  and through each URL given (ntfy://, slack://, discord://, telegram://, teams://, smtp://; docs/NOTIFY.md)
  exit 0 when every one was accepted, 1 when one failed, 3 when FILE or a URL is invalid
`;

function fromConfig(file: string): { targets: ServiceTarget[]; ups: string; source: string } {
  if (configKind(file) === 'agent') {
    const s = loadAgentSettings(file);
    return { targets: s.notify.services ?? [], ups: 'ups', source: `agent ${s.id} (group ${s.group})` };
  }
  const s = loadMasterSettings(file);
  return { targets: s.notify.services, ups: s.ups.name, source: `master ${s.id}` };
}

export const notifyCommand: CommandHandler = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    io.stdout(USAGE);
    return ExitCodes.OK;
  }
  if (sub !== 'test') {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  let values: { config?: string; timeout?: string; help?: boolean };
  let urls: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values;
    urls = parsed.positionals;
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${USAGE}`);
    return ExitCodes.USAGE;
  }
  if (values.help) {
    io.stdout(USAGE);
    return ExitCodes.OK;
  }
  if (values.config === undefined && urls.length === 0) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }

  let targets: ServiceTarget[] = [];
  let ups = 'ups';
  let source = 'upsfleet notify test';
  let timeoutMs = DEFAULT_NOTIFY_SEND_TIMEOUT_MS;
  try {
    if (values.timeout !== undefined) timeoutMs = parseDuration(values.timeout, '--timeout');
    if (values.config !== undefined) {
      const c = fromConfig(values.config);
      ({ ups, source } = c);
      targets = [...c.targets];
      if (targets.length === 0 && urls.length === 0) {
        io.stderr(`${values.config}: no notification URLs (notify.urls)\n`);
        return ExitCodes.CONFIG;
      }
    }
    urls.forEach((u, i) => {
      targets.push(parseServiceUrl(u, [], `URL ${i + 1}`));
    });
  } catch (err) {
    if (isUpsfleetError(err)) {
      io.stderr(`${err.message}\n`);
      return err.code === 'DURATION_INVALID' ? ExitCodes.USAGE : ExitCodes.CONFIG;
    }
    throw err;
  }

  const msg = serviceMessage({
    event: 'TEST',
    message: `A test notification from upsfleet: if you read this, ${ups} events will reach you here.`,
    ups,
    source,
    ts: Date.now(),
  });
  let failed = 0;
  for (const t of targets) {
    const started = Date.now();
    try {
      for (const d of t.build(msg)) await sendDelivery(d, timeoutMs);
      io.stdout(`ok    ${t.service.padEnd(8)} ${t.redacted} (${Date.now() - started} ms)\n`);
    } catch (err) {
      failed++;
      io.stdout(`FAIL  ${t.service.padEnd(8)} ${t.redacted}: ${(err as Error).message}\n`);
    }
  }
  io.stdout(`${targets.length - failed} of ${targets.length} sent\n`);
  return failed === 0 ? ExitCodes.OK : ExitCodes.FAILURE;
};
