/** The upsfleet CLI dispatcher: parses the subcommand and hands over to its module. Thin on purpose. */
import { isUpsfleetError } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { commandSpec, formatCommandHelp, wantsHelp } from './command-specs.js';
import { type CommandHandler, type CommandIo, ExitCodes } from './commands/command.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandHandler> }> = {
  master: {
    summary: 'master -c FILE            run the master',
    load: async () => (await import('./commands/master.js')).masterCommand,
  },
  agent: {
    summary: 'agent -c FILE             run an agent',
    load: async () => (await import('./commands/agent.js')).agentCommand,
  },
  status: {
    summary:
      'status [--json] [URL]     UPS variables and the fleet (URL: http://host:port or ups@host[:port])',
    load: async () => (await import('./commands/status.js')).statusCommand,
  },
  monitor: {
    summary: 'monitor [URL] [--token T]  the UPS and the fleet live, full screen (like top); q quits',
    load: async () => (await import('./commands/monitor.js')).monitorCommand,
  },
  config: {
    summary:
      'config check FILE [--against RUNNING]   validate a config; --against: what a reload applies, what needs a restart',
    load: async () => (await import('./commands/config-check.js')).configCheckCommand,
  },
  simulate: {
    summary: 'simulate set NAME VALUE   change a simulated UPS live (admin); simulate fsd [REASON]',
    load: async () => (await import('./commands/simulate.js')).simulateCommand,
  },
  keygen: {
    summary:
      'keygen [-c FILE|--out DIR] [--name HOST] [--force]   master key + self-signed cert; prints the fingerprint',
    load: async () => (await import('./commands/keygen.js')).keygenCommand,
  },
  init: {
    summary: 'init master -c FILE       keygen + empty tokens file, then the next steps',
    load: async () => (await import('./commands/init.js')).initCommand,
  },
  token: {
    summary:
      'token add ID --group G | list | revoke ID [-c FILE]   per-agent tokens (new | hash TOKEN: for the config)',
    load: async () => (await import('./commands/token.js')).tokenCommand,
  },
  probe: {
    summary: 'probe [--replay FILE [--json]] [--capture FILE]   list or read HID UPSes',
    load: async () => (await import('./commands/probe.js')).probeCommand,
  },
  emulate: {
    summary: 'emulate CAPTURE [--scenario outage]   a capture as a live kernel HID UPS via /dev/uhid (Linux)',
    load: async () => (await import('./commands/emulate.js')).emulateCommand,
  },
  'udev-rule': {
    summary: 'udev-rule                 print the udev rule for the attached UPS',
    load: async () => (await import('./commands/udev-rule.js')).udevRuleCommand,
  },
  drill: {
    summary:
      'drill [--master URL] [--token T]   run the sequence across the live fleet in drill mode, then report',
    load: async () => (await import('./commands/drill.js')).drillCommand,
  },
  plan: {
    summary: 'plan [--master URL]       does the sequence fit in the battery runtime (last drill)',
    load: async () => (await import('./commands/plan.js')).planCommand,
  },
  notify: {
    summary:
      'notify test [-c FILE] [URL...]   a test message through each notification URL (ntfy, Slack, Discord, Telegram, Teams, e-mail)',
    load: async () => (await import('./commands/notify.js')).notifyCommand,
  },
  target: {
    summary:
      'target test ID [-c FILE]  an SSH target: reachable, host key, login, sudo rule (nothing shut down)',
    load: async () => (await import('./commands/target.js')).targetCommand,
  },
  demo: {
    summary: 'demo                      master on a simulated UPS + 6 dry-run agents, plays an outage',
    load: async () => (await import('./commands/demo.js')).demoCommand,
  },
  completion: {
    summary: 'completion bash           the bash completion script',
    load: async () => (await import('./commands/completion.js')).completionCommand,
  },
};

const EXIT_HELP = `exit codes: 0 ok, 1 failure, 2 usage, 3 configuration invalid, 4 master unreachable,
            5 no HID device, 6 permission denied, 7 malformed input (e.g. capture file),
            8 a configured part cannot be loaded (node-hid for the usbhid source)`;

function help(): string {
  return [
    `upsfleet ${VERSION} - ordered, confirmed shutdown of a fleet on a shared UPS`,
    '',
    'usage: upsfleet <command> [options]',
    '',
    ...Object.values(COMMANDS).map((c) => `  ${c.summary}`),
    '',
    "  --help, -h                this help; upsfleet COMMAND --help: that command's",
    '  --version, -V             the version',
    '',
    EXIT_HELP,
    '',
  ].join('\n');
}

/** The names of the commands the dispatcher knows (tests check each has its entry in COMMAND_SPECS). */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

export async function main(argv: string[], io: CommandIo): Promise<number> {
  const [first, ...afterFirst] = argv;
  // `upsfleet help CMD` is `upsfleet CMD --help`
  const [name, ...rest] =
    first === 'help' && afterFirst.length > 0 ? [afterFirst[0] as string, '--help'] : [first, ...afterFirst];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(help());
    return name ? ExitCodes.OK : ExitCodes.USAGE;
  }
  if (name === '--version' || name === '-V') {
    io.stdout(`${VERSION}\n`);
    return ExitCodes.OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`upsfleet: unknown command "${name}"\n\n${help()}`);
    return ExitCodes.USAGE;
  }
  // every command answers --help/-h from the command table, before it parses (or reads files named) anything
  const spec = commandSpec(name);
  if (spec && wantsHelp(rest)) {
    io.stdout(formatCommandHelp(spec));
    return ExitCodes.OK;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (err) {
    if (isUpsfleetError(err)) {
      io.stderr(`upsfleet ${name}: ${err.message} [${err.code}]\n`);
      if (err.code.startsWith('CONFIG_') || err.code === 'DURATION_INVALID' || err.code === 'SOURCE_TIMELINE')
        return ExitCodes.CONFIG;
      if (err.code === 'HID_NO_DEVICE') return ExitCodes.NO_DEVICE;
      if (err.code === 'HID_PERMISSION') return ExitCodes.PERMISSION;
      if (err.code === 'HID_CAPTURE') return ExitCodes.BAD_INPUT;
      if (err.code === 'HID_UNAVAILABLE') return ExitCodes.UNAVAILABLE;
      return ExitCodes.FAILURE;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`upsfleet ${name}: ${(err as Error).message}\n`);
      return ExitCodes.USAGE;
    }
    io.stderr(`upsfleet ${name}: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return ExitCodes.FAILURE;
  }
}
