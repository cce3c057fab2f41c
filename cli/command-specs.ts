/**
 * What every `upsfleet` command accepts, in one place: `upsfleet CMD --help`, the man page (docs/man/upsfleet.1)
 * and the bash completion (deploy/bash-completion/upsfleet) are all generated from this table, so the three
 * cannot drift apart. Plain data: no command module is imported here (help must not load the master).
 */

export interface OptionSpec {
  /** Long name without the dashes. */
  name: string;
  short?: string;
  /** The value's placeholder (a string option); absent for a flag. */
  arg?: string;
  help: string;
  /** What the shell completes for the value. */
  complete?: 'file' | 'dir';
}

export interface CommandSpec {
  name: string;
  /** One line for `upsfleet --help`. */
  summary: string;
  /** Synopsis lines, each without the leading `upsfleet `. */
  usage: string[];
  /** Paragraphs for --help and the man page. */
  description: string[];
  options: OptionSpec[];
  /** Words completed as the first argument (sub-commands). */
  subcommands?: string[];
  /** Positional arguments are files (completed as such). */
  fileArgs?: boolean;
}

const MASTER_URL: OptionSpec = {
  name: 'master',
  short: 'm',
  arg: 'URL',
  help: 'the master: http(s)://host:port or the agents wss:// URL (default http://127.0.0.1:8740)',
};
const TOKEN: OptionSpec = { name: 'token', arg: 'TOKEN', help: 'an admin token (or UPSFLEET_ADMIN_TOKEN)' };
const FINGERPRINT: OptionSpec = {
  name: 'fingerprint',
  arg: 'sha256:HEX',
  help: "the master's pinned certificate fingerprint for https:// (or UPSFLEET_FINGERPRINT)",
};
const JSON_OUT: OptionSpec = { name: 'json', help: 'print JSON instead of text' };
const HELP: OptionSpec = { name: 'help', short: 'h', help: 'this help' };
const MASTER_CONFIG: OptionSpec = {
  name: 'config',
  short: 'c',
  arg: 'FILE',
  help: 'the master configuration (default /etc/upsfleet/master.yaml)',
  complete: 'file',
};

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'master',
    summary: 'run the master',
    usage: ['master -c FILE'],
    description: [
      'Runs the master until SIGINT or SIGTERM: reads the UPS, serves agents, NUT clients and HTTP, and orders the fleet down when the UPS is critical. SIGHUP (systemctl reload upsfleet-master) reloads what can change live.',
      'Logs go to standard output: pino-pretty text on a terminal, JSON lines with a syslog priority prefix under systemd (journalctl -p warning works), plain JSON lines otherwise; UPSFLEET_LOG_FORMAT=json|journal|pretty forces one.',
    ],
    options: [{ ...MASTER_CONFIG, help: 'the master configuration' }, HELP],
  },
  {
    name: 'agent',
    summary: 'run an agent',
    usage: ['agent -c FILE'],
    description: [
      'Runs an agent until SIGINT or SIGTERM: follows the master, runs the hooks and powers the host off when its step comes. Hosts that have only Node.js run the one-file agent instead: node upsfleet-agent.cjs -c FILE (see upsfleet-agent --help).',
    ],
    options: [
      { name: 'config', short: 'c', arg: 'FILE', help: 'the agent configuration', complete: 'file' },
      HELP,
    ],
  },
  {
    name: 'status',
    summary: 'the UPS variables and the fleet, or one UPS of a NUT server like upsc',
    usage: [
      'status [--json] [--master URL | URL] [-c FILE] [--fingerprint FP]',
      'status [--json] UPS@HOST[:PORT] [VARIABLE]',
    ],
    description: [
      "Prints the UPS variables as upsc does, the policy, and every agent per group. The master is --master URL (or a positional URL), else the one that -c FILE (a master or an agent configuration) names: the master's own listen address and certificate fingerprint, or the agent's first master URL and pinned fingerprint. With none of them, /etc/upsfleet/master.yaml (or UPSFLEET_MASTER_CONFIG) when it is readable, so plain upsfleet status works on the master host; else http://127.0.0.1:8740.",
      'With UPS@HOST[:PORT] it reads that UPS from any NUT server (upsd, or the master NUT server) and prints it like upsc; with a VARIABLE only that value, as upsc UPS@HOST VARIABLE does.',
    ],
    options: [
      MASTER_URL,
      {
        name: 'config',
        short: 'c',
        arg: 'FILE',
        help: 'take the master URL and fingerprint from this master or agent configuration',
        complete: 'file',
      },
      JSON_OUT,
      FINGERPRINT,
      HELP,
    ],
  },
  {
    name: 'monitor',
    summary: 'the UPS and the fleet live, full screen (like top); q quits',
    usage: ['monitor [URL] [--token TOKEN] [--fingerprint FP]'],
    description: ["The dashboard's picture in a terminal, refreshed live; for SSH sessions."],
    options: [TOKEN, FINGERPRINT, HELP],
  },
  {
    name: 'config',
    summary: 'validate a master or agent configuration',
    usage: ['config check FILE [--against RUNNING]'],
    description: [
      'Validates a master or agent configuration and prints every problem as file:line:column (exit 3). With --against (the master configuration running now) it lists which changes a reload (kill -HUP, systemctl reload upsfleet-master) applies and which need a restart. On agent hosts the one-file agent does the same: node upsfleet-agent.cjs config check FILE.',
    ],
    options: [
      { name: 'against', arg: 'RUNNING', help: 'the master configuration running now', complete: 'file' },
      HELP,
    ],
    subcommands: ['check'],
    fileArgs: true,
  },
  {
    name: 'simulate',
    summary: 'change a simulated UPS live, or force the shutdown (admin)',
    usage: [
      'simulate [--master URL] [--token TOKEN] set NAME VALUE',
      'simulate [--master URL] [--token TOKEN] fsd [REASON]',
    ],
    description: [
      'Sets a variable of a master running the simulated source (e.g. ups.status OB), or forces FSD.',
    ],
    options: [MASTER_URL, TOKEN, FINGERPRINT, HELP],
    subcommands: ['set', 'fsd'],
  },
  {
    name: 'keygen',
    summary: "the master's key and self-signed certificate; prints the fingerprint",
    usage: ['keygen [-c FILE | --out DIR] [--name HOST]... [--force]'],
    description: [
      "Writes the master's TLS key and certificate where its configuration (or --out) says, and prints the sha256 fingerprint that agents pin.",
    ],
    options: [
      MASTER_CONFIG,
      { name: 'out', arg: 'DIR', help: 'write key.pem and cert.pem here instead', complete: 'dir' },
      { name: 'name', arg: 'HOST', help: 'a host name or address for the certificate (repeatable)' },
      { name: 'force', help: 'replace an existing key' },
      HELP,
    ],
  },
  {
    name: 'init',
    summary: 'keygen and an empty tokens file, then the next steps',
    usage: ['init master [-c FILE] [--name HOST]...'],
    description: ['Prepares a master host: the key and certificate (as keygen) and an empty tokens file.'],
    options: [
      MASTER_CONFIG,
      { name: 'name', arg: 'HOST', help: 'a host name for the certificate (repeatable)' },
      HELP,
    ],
    subcommands: ['master'],
  },
  {
    name: 'token',
    summary: 'per-agent and admin tokens (shown once, stored hashed)',
    usage: [
      'token add ID --group GROUP [--role agent|admin] [-c FILE]',
      'token list [-c FILE]',
      'token revoke ID [-c FILE]',
      'token new | token hash TOKEN',
    ],
    description: [
      "add prints a new token once and stores only its hash in the master's tokens file; new and hash print a token and a hash for the configuration's agents: and admins: lists.",
    ],
    options: [
      MASTER_CONFIG,
      { name: 'group', short: 'g', arg: 'GROUP', help: "the agent's group" },
      { name: 'role', arg: 'ROLE', help: 'agent (default) or admin' },
      HELP,
    ],
    subcommands: ['add', 'list', 'revoke', 'new', 'hash'],
  },
  {
    name: 'probe',
    summary: 'list or read HID UPSes, write or decode a capture',
    usage: [
      'probe [--vendor VID] [--product PID] [--serial S] [--path /dev/hidrawN] [--capture FILE]',
      'probe --replay FILE [--json]',
    ],
    description: [
      "Without a selector lists the attached HID UPSes; with one prints the UPS's NUT variables like upsc. --capture writes a capture (to attach to a bug report); --replay decodes one without hardware.",
    ],
    options: [
      { name: 'vendor', arg: 'VID', help: 'USB vendor id, hex' },
      { name: 'product', arg: 'PID', help: 'USB product id, hex' },
      { name: 'serial', arg: 'SERIAL', help: 'serial number' },
      { name: 'path', arg: 'PATH', help: 'the hidraw node', complete: 'file' },
      { name: 'capture', arg: 'FILE', help: 'write a capture of the selected UPS', complete: 'file' },
      { name: 'replay', arg: 'FILE', help: 'decode a capture file', complete: 'file' },
      JSON_OUT,
      HELP,
    ],
  },
  {
    name: 'emulate',
    summary: 'a capture as a live kernel HID UPS via /dev/uhid (Linux)',
    usage: ['emulate CAPTURE [--script FILE] [--scenario NAME] [--uhid PATH]'],
    description: [
      'Turns a capture file into a kernel HID device through /dev/uhid until Ctrl-C; commands come from --script, --scenario and standard input.',
    ],
    options: [
      { name: 'script', arg: 'FILE', help: 'commands to play', complete: 'file' },
      { name: 'scenario', arg: 'NAME', help: 'a built-in scenario (e.g. outage)' },
      { name: 'uhid', arg: 'PATH', help: 'the uhid device (default /dev/uhid)', complete: 'file' },
      HELP,
    ],
    fileArgs: true,
  },
  {
    name: 'udev-rule',
    summary: 'print the udev rule that lets the upsfleet group open the UPS',
    usage: ['udev-rule [--vendor VID --product PID] [--group GROUP]'],
    description: [
      'Prints the rule for the attached UPS (or the given ids), where it goes and how to load it.',
    ],
    options: [
      { name: 'vendor', arg: 'VID', help: 'USB vendor id, 4 hex digits' },
      { name: 'product', arg: 'PID', help: 'USB product id, 4 hex digits' },
      { name: 'group', arg: 'GROUP', help: 'the group given access (default upsfleet)' },
      HELP,
    ],
  },
  {
    name: 'drill',
    summary: 'run the sequence across the live fleet in drill mode, then report',
    usage: ['drill [--master URL] [--token TOKEN] [--json] [--timeout SECONDS]'],
    description: [
      'Every agent runs its step in dry-run: orders, acknowledgements and timings are real, only drill-safe hooks run and nothing powers off. Ends with a per-host report.',
      'Without --master, on the master host: the master that /etc/upsfleet/master.yaml (or UPSFLEET_MASTER_CONFIG) names, with its certificate fingerprint, when that file is readable; else http://127.0.0.1:8740.',
    ],
    options: [
      MASTER_URL,
      TOKEN,
      JSON_OUT,
      { name: 'timeout', arg: 'SECONDS', help: 'give up after this long (default 1800)' },
      { name: 'interval', arg: 'MS', help: 'progress polling interval (default 200)' },
      FINGERPRINT,
      HELP,
    ],
  },
  {
    name: 'plan',
    summary: 'does the sequence fit in the battery runtime (last drill)',
    usage: ['plan [--master URL] [--json]'],
    description: [
      "Compares the sequence's measured durations (last drill) with battery.runtime.",
      'Without --master: the master that /etc/upsfleet/master.yaml (or UPSFLEET_MASTER_CONFIG) names when it is readable, as for drill.',
    ],
    options: [MASTER_URL, JSON_OUT, FINGERPRINT, HELP],
  },
  {
    name: 'notify',
    summary: 'a test message through each notification URL',
    usage: ['notify test [-c FILE] [--timeout DURATION] [URL...]'],
    description: [
      'Sends a test message through every notify.urls entry of a master or agent configuration and through each URL given (ntfy, Slack, Discord, Telegram, Teams, e-mail); says for each whether it arrived.',
    ],
    options: [
      { name: 'config', short: 'c', arg: 'FILE', help: 'a master or agent configuration', complete: 'file' },
      { name: 'timeout', arg: 'DURATION', help: 'per message (default 10s)' },
      HELP,
    ],
    subcommands: ['test'],
  },
  {
    name: 'target',
    summary: 'check an SSH target: reachable, host key, login, sudo rule',
    usage: ['target test ID [-c FILE] [--json]'],
    description: [
      "Checks the SSH target ID of the master configuration without shutting anything down: its SSH port answers, the server's host key is the pinned one (refused otherwise, with both fingerprints, and nothing is sent), the private key logs in, and the command is allowed: for a sudo command, sudo -n -l CMD (sudo lists it when a rule allows it without a password, and runs nothing); otherwise that the program exists. See docs/SSH-TARGETS.md.",
      'Without -c: /etc/upsfleet/master.yaml, or the file UPSFLEET_MASTER_CONFIG names. Exit 0 when ready; 1 host key refused or program missing; 2 unknown ID; 3 configuration invalid or key unreadable; 4 unreachable; 6 login refused or no sudo rule.',
    ],
    options: [MASTER_CONFIG, JSON_OUT, HELP],
    subcommands: ['test'],
  },
  {
    name: 'demo',
    summary: 'a master on a simulated UPS and 6 dry-run agents play an outage',
    usage: ['demo [--keep]'],
    description: [
      'Real processes on 127.0.0.1; prints the timeline and exits 0 when everyone went down in order.',
    ],
    options: [{ name: 'keep', help: 'keep the temporary directory' }, HELP],
  },
  {
    name: 'completion',
    summary: 'print the bash completion script',
    usage: ['completion bash'],
    description: [
      'Prints the bash completion for upsfleet; e.g. upsfleet completion bash > /etc/bash_completion.d/upsfleet (the Debian package installs it).',
    ],
    options: [HELP],
    subcommands: ['bash'],
  },
];

export function commandSpec(name: string): CommandSpec | undefined {
  return COMMAND_SPECS.find((c) => c.name === name);
}

/** `upsfleet CMD --help`. */
export function formatCommandHelp(spec: CommandSpec): string {
  const usage = spec.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}upsfleet ${u}`);
  const width = Math.max(...spec.options.map((o) => optionLabel(o).length));
  const options = spec.options.map((o) => `  ${optionLabel(o).padEnd(width)}  ${o.help}`);
  return [
    ...usage,
    '',
    ...spec.description.flatMap((p) => [...wrap(p, 100), '']),
    'options:',
    ...options,
    '',
  ].join('\n');
}

export function optionLabel(o: OptionSpec): string {
  const long = `--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
  return o.short ? `-${o.short}, ${long}` : long;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** True when argv asks for help: -h/--help anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}
