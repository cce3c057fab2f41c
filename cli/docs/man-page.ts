/** upsfleet(1) in roff (man(7) macros), generated from the command table (cli/command-specs.ts). */
import { COMMAND_SPECS, type CommandSpec, optionLabel } from '../command-specs.js';

/** Escapes text for roff: backslashes, and a leading dot or quote that would read as a request. */
function roff(text: string): string {
  const escaped = text.replaceAll('\\', '\\e').replaceAll('-', '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

function commandSection(spec: CommandSpec): string[] {
  const lines = ['.SS', `.B upsfleet ${roff(spec.name)}`];
  lines.push(...spec.usage.map((u) => `.br\n\\fBupsfleet\\fR ${roff(u)}`));
  for (const p of spec.description) lines.push('.PP', roff(p));
  for (const o of spec.options) lines.push('.TP', `.B ${roff(optionLabel(o))}`, roff(o.help));
  return lines;
}

/** Version-free, so the committed page stays current across releases (the package carries the version). */
export function manPage(): string {
  return [
    '.TH UPSFLEET 1 "" "upsfleet" "User Commands"',
    '.SH NAME',
    'upsfleet \\- ordered, confirmed shutdown of a fleet of machines sharing a UPS',
    '.SH SYNOPSIS',
    '.B upsfleet',
    '.I command',
    '[\\fIoptions\\fR]',
    '.br',
    '.B upsfleet',
    '.I command',
    '.B \\-\\-help',
    '.SH DESCRIPTION',
    'A master on the host the UPS is plugged into reads the UPS and, when it becomes critical, orders the',
    'agents of the fleet down group by group, waits for each to be confirmed down, goes last and tells the',
    'UPS to cut and later restore the load. Every command prints its own help with \\fB\\-\\-help\\fR.',
    '.SH COMMANDS',
    ...COMMAND_SPECS.flatMap(commandSection),
    '.SH ENVIRONMENT',
    '.TP',
    '.B UPSFLEET_ADMIN_TOKEN',
    'the admin token for commands that change the fleet (drill, simulate, monitor)',
    '.TP',
    '.B UPSFLEET_FINGERPRINT',
    "the master's certificate fingerprint for https:// URLs",
    '.TP',
    '.B UPSFLEET_MASTER_CONFIG',
    'the master configuration plain \\fBupsfleet status\\fR reads (default /etc/upsfleet/master.yaml)',
    '.TP',
    '.B UPSFLEET_LOG_LEVEL, UPSFLEET_LOG_FORMAT',
    'log level; log format on standard output (json, journal, pretty)',
    '.SH EXIT STATUS',
    '0 ok, 1 failure, 2 usage, 3 configuration invalid, 4 master unreachable, 5 no HID device,',
    '6 permission denied, 7 malformed input, 8 a configured part cannot be loaded (node\\-hid for the usbhid source).',
    '.SH FILES',
    '.TP',
    '.I /etc/upsfleet/master.yaml, /etc/upsfleet/agent.yaml',
    'the configurations the systemd units upsfleet\\-master and upsfleet\\-agent run with',
    '.SH SEE ALSO',
    '.BR upsc (8),',
    '.BR upsmon (8),',
    '.BR journalctl (1)',
    '',
  ].join('\n');
}

/** upsfleet-agent(1): the one-file agent for hosts that have only Node.js. */
export function agentManPage(): string {
  return [
    '.TH UPSFLEET\\-AGENT 1 "" "upsfleet" "User Commands"',
    '.SH NAME',
    'upsfleet\\-agent \\- the upsfleet agent as one file, for hosts that have only Node.js',
    '.SH SYNOPSIS',
    '.B upsfleet\\-agent \\-c',
    '.I FILE',
    '.br',
    '.B upsfleet\\-agent config check',
    '.I FILE',
    '.br',
    '.B upsfleet\\-agent \\-\\-version | \\-\\-help',
    '.SH DESCRIPTION',
    'Follows the upsfleet master named in the agent configuration \\fIFILE\\fR and, when its group\\(aqs step',
    'comes, runs its hooks and powers the host off. \\fBconfig check\\fR validates \\fIFILE\\fR and prints every',
    'problem as file:line:column. The same agent runs as \\fBupsfleet agent \\-c\\fR \\fIFILE\\fR.',
    '.SH EXIT STATUS',
    '0 ok, 1 failure, 2 usage, 3 configuration invalid.',
    '.SH SEE ALSO',
    '.BR upsfleet (1)',
    '',
  ].join('\n');
}
