/**
 * `upsfleet emulate CAPTURE`: a capture file as a live kernel HID device through /dev/uhid (Linux, root or
 * access to /dev/uhid), until SIGINT/SIGTERM. Commands (wait, set, report, input, inputs, unplug, replug)
 * come from --script FILE, --scenario NAME and lines on standard input. Logs are JSON lines (pino): the
 * `ready` line names the /dev/hidrawN, every SET_REPORT is logged with its bytes.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseCapture } from '../../master/sources/usbhid/capture-file.js';
import {
  parseCommand,
  parseScript,
  SCENARIOS,
  type ScriptStep,
} from '../../master/sources/usbhid/emulator/emulator-script.js';
import { findHidrawByPhys } from '../../master/sources/usbhid/emulator/hidraw-lookup.js';
import { applyCommand, runScript } from '../../master/sources/usbhid/emulator/script-runner.js';
import { openUhid, UHID_PATH } from '../../master/sources/usbhid/emulator/uhid-channel.js';
import { UpsEmulator } from '../../master/sources/usbhid/emulator/ups-emulator.js';
import { systemClock } from '../../shared/clock.js';
import { isUpsfleetError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { type CommandHandler, ExitCodes } from './command.js';
import { runUntilSignal } from './run-until-signal.js';

const USAGE = `usage: upsfleet emulate CAPTURE [--script FILE] [--scenario ${Object.keys(SCENARIOS).join('|')}] [--uhid PATH]
  turns a capture file (upsfleet probe --capture, or a fixture) into a kernel HID device via ${UHID_PATH}
  (Linux with the uhid module; root, or read/write access to ${UHID_PATH}); runs until Ctrl-C
  commands, from --script, --scenario or typed on standard input, one a line:
    set PATH VALUE   e.g. set PresentStatus.ACPresent 0    report HEX   input HEX   inputs
    unplug           replug                                  wait 10s (scripts)`;

interface EmulateArgs {
  capture?: string;
  script?: string;
  scenario?: string;
  uhid: string;
  help: boolean;
}

function parseArgs(argv: string[]): EmulateArgs | string {
  const args: EmulateArgs = { uhid: UHID_PATH, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v === '') throw new Error(`${arg} needs a value`);
      return v;
    };
    try {
      if (arg === '--script') args.script = value();
      else if (arg === '--scenario') args.scenario = value();
      else if (arg === '--uhid') args.uhid = value();
      else if (arg === '--help' || arg === '-h') args.help = true;
      else if (arg.startsWith('-')) return `unknown argument ${arg}`;
      else if (args.capture) return `one capture file only (got ${args.capture} and ${arg})`;
      else args.capture = arg;
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (args.scenario && !SCENARIOS[args.scenario])
    return `unknown scenario ${args.scenario} (${Object.keys(SCENARIOS).join(', ')})`;
  if (!args.help && !args.capture) return 'a capture file is needed';
  return args;
}

export const emulateCommand: CommandHandler = async (argv, io) => {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.stderr(`upsfleet emulate: ${args}\n${USAGE}\n`);
    return ExitCodes.USAGE;
  }
  if (args.help || !args.capture) {
    io.stdout(`${USAGE}\n`);
    return ExitCodes.OK;
  }
  let steps: ScriptStep[] = [];
  let parsed: ReturnType<typeof parseCapture>;
  try {
    parsed = parseCapture(await readFile(args.capture, 'utf8'), args.capture);
    if (args.scenario) steps = parseScript(SCENARIOS[args.scenario]!, `scenario ${args.scenario}`);
    if (args.script) steps = [...steps, ...parseScript(await readFile(args.script, 'utf8'), args.script)];
  } catch (err) {
    io.stderr(`upsfleet emulate: ${(err as Error).message}\n`);
    return isUpsfleetError(err) ? ExitCodes.BAD_INPUT : ExitCodes.FAILURE;
  }

  const log = createLogger({ name: 'emulate' });
  const emulator = new UpsEmulator({
    ...parsed,
    openChannel: () => openUhid(args.uhid),
    locate: (phys) => findHidrawByPhys(phys),
    log,
  });
  try {
    emulator.plug();
  } catch (err) {
    io.stderr(`upsfleet emulate: ${(err as Error).message}\n`);
    if (isUpsfleetError(err) && err.code === 'HID_PERMISSION') return ExitCodes.PERMISSION;
    if (isUpsfleetError(err) && err.code === 'HID_NO_DEVICE') return ExitCodes.NO_DEVICE;
    return ExitCodes.FAILURE;
  }

  const done = new AbortController();
  void runScript(emulator, steps, systemClock, log, done.signal);
  // commands typed (or piped) on standard input; its end leaves the device running
  const lines = createInterface({ input: process.stdin, terminal: false });
  let lineNo = 0;
  lines.on('line', (text) => {
    lineNo++;
    try {
      const step = parseCommand(text, 'stdin', lineNo);
      if (step && step.kind !== 'wait') applyCommand(emulator, step, log);
    } catch (err) {
      log.warn({ err }, 'command not understood');
    }
  });

  await runUntilSignal(log, async () => {
    done.abort();
    lines.close();
    emulator.stop();
  });
  return ExitCodes.OK;
};
