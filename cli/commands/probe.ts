/**
 * `upsfleet probe`: list HID UPSes; with a device selected print its NUT variables like upsc;
 * `--capture FILE` saves a capture of it; `--replay FILE [--json]` decodes a capture without hardware.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type {
  DeviceSelector,
  HidBinding,
  HidDeviceInfo,
} from '../../master/sources/usbhid/bindings/hid-binding.js';
import { selectDevices } from '../../master/sources/usbhid/bindings/hid-binding.js';
import { NodeHidBinding } from '../../master/sources/usbhid/bindings/node-hid-binding.js';
import { formatCapture, parseCapture } from '../../master/sources/usbhid/capture-file.js';
import { replayCapture } from '../../master/sources/usbhid/capture-replay.js';
import { captureDevice } from '../../master/sources/usbhid/device-capture.js';
import { usesPowerDevicePages } from '../../master/sources/usbhid/hid/power-device-pages.js';
import { KNOWN_UPS_VENDOR_IDS, vendorProfileFor } from '../../master/sources/usbhid/mapping/vendor-tables.js';
import type { Clock } from '../../shared/clock.js';
import { isUpsfleetError } from '../../shared/errors.js';
import { formatUpscLines, type UpsVars } from '../../shared/nut/ups-state.js';
import { type CommandHandler, type CommandIo, ExitCodes } from './command.js';

const USAGE = `usage: upsfleet probe [--vendor VID] [--product PID] [--serial S] [--path /dev/hidrawN] [--capture FILE]
       upsfleet probe --replay FILE [--json]
  no selector: list attached HID UPSes
  a selector:  print the selected UPS's NUT variables (like upsc)
  --capture FILE  write a capture of the selected (or only) UPS to FILE (to attach to a bug report)
  --replay FILE   decode a capture file and print its NUT variables; --json prints one JSON object`;

interface ProbeArgs {
  selector: DeviceSelector;
  capture?: string;
  replay?: string;
  json: boolean;
  help: boolean;
}

function parseArgs(argv: string[]): ProbeArgs | string {
  const args: ProbeArgs = { selector: {}, json: false, help: false };
  const valueFlags: Record<string, (v: string) => void> = {
    '--vendor': (v) => (args.selector.vendorId = v),
    '--product': (v) => (args.selector.productId = v),
    '--serial': (v) => (args.selector.serial = v),
    '--path': (v) => (args.selector.path = v),
    '--capture': (v) => (args.capture = v),
    '--replay': (v) => (args.replay = v),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const set = valueFlags[name];
    if (set) {
      const value = inline ?? argv[++i];
      if (value === undefined || value === '') return `${name} needs a value`;
      set(value);
    } else if (arg === '--json') args.json = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else return `unknown argument ${arg}`;
  }
  for (const key of ['vendorId', 'productId'] as const) {
    const v = args.selector[key];
    if (v !== undefined && !/^(0x)?[0-9a-fA-F]{1,4}$/.test(v))
      return `--${key === 'vendorId' ? 'vendor' : 'product'} must be a hex USB id like 051d`;
  }
  if (args.replay && (args.capture || Object.keys(args.selector).length > 0))
    return '--replay cannot be combined with a device selector or --capture';
  if (args.json && !args.replay && !Object.keys(args.selector).length && !args.capture)
    return '--json needs --replay FILE or a selected device';
  return args;
}

function printVars(io: CommandIo, vars: UpsVars, json: boolean): void {
  if (json) {
    const sorted: UpsVars = {};
    for (const k of Object.keys(vars).sort()) sorted[k] = vars[k]!;
    io.stdout(`${JSON.stringify(sorted)}\n`);
  } else {
    io.stdout(`${formatUpscLines(vars)}\n`);
  }
}

function explain(io: CommandIo, err: unknown): number {
  if (isUpsfleetError(err)) {
    io.stderr(`upsfleet probe: ${err.message}\n`);
    switch (err.code) {
      case 'HID_CAPTURE':
      case 'HID_DESCRIPTOR':
      case 'HID_REPORT':
        return ExitCodes.BAD_INPUT;
      case 'HID_NO_DEVICE':
        return ExitCodes.NO_DEVICE;
      case 'HID_PERMISSION':
        return ExitCodes.PERMISSION;
      default:
        return ExitCodes.FAILURE;
    }
  }
  io.stderr(`upsfleet probe: ${(err as Error)?.message ?? String(err)}\n`);
  return ExitCodes.FAILURE;
}

export interface ProbeDeps {
  /** The HID binding (default: node-hid), created only when a device is needed. */
  binding?: () => HidBinding;
  /** Waits for interrupt-IN reports (default: the system clock). */
  clock?: Clock;
  /** How long a one-shot probe waits for input reports no GET_REPORT answer covered (default 3000 ms). */
  inputWaitMs?: number;
}

/**
 * A listed HID device that may be a UPS: a top-level Power Device page, a known UPS vendor, or a report
 * descriptor that uses the Power Device or Battery System page anywhere (devices we cannot open are skipped).
 */
async function looksLikeUps(binding: HidBinding, d: HidDeviceInfo): Promise<boolean> {
  if (d.usagePage === 0x84 || d.usagePage === 0x85 || KNOWN_UPS_VENDOR_IDS.has(d.vendorId)) return true;
  try {
    const device = await binding.open(d.path);
    try {
      return usesPowerDevicePages(await device.reportDescriptor());
    } finally {
      await device.close();
    }
  } catch {
    return false;
  }
}

async function upsCandidates(binding: HidBinding, all: HidDeviceInfo[]): Promise<HidDeviceInfo[]> {
  const out: HidDeviceInfo[] = [];
  for (const d of all) if (await looksLikeUps(binding, d)) out.push(d);
  return out;
}

export function createProbeCommand(deps: ProbeDeps = {}): CommandHandler {
  const makeBinding = deps.binding ?? (() => new NodeHidBinding());
  return async (argv, io) => {
    const args = parseArgs(argv);
    if (typeof args === 'string') {
      io.stderr(`upsfleet probe: ${args}\n${USAGE}\n`);
      return ExitCodes.USAGE;
    }
    if (args.help) {
      io.stdout(`${USAGE}\n`);
      return ExitCodes.OK;
    }
    try {
      if (args.replay) {
        let text: string;
        try {
          text = await readFile(args.replay, 'utf8');
        } catch (err) {
          io.stderr(`upsfleet probe: cannot read ${args.replay}: ${(err as Error).message}\n`);
          return ExitCodes.BAD_INPUT;
        }
        const { capture, descriptor } = parseCapture(text, args.replay);
        printVars(io, replayCapture(capture, descriptor).vars, args.json);
        return ExitCodes.OK;
      }

      const binding = makeBinding();
      const all = await binding.list();
      const selected = Object.keys(args.selector).length > 0;
      const candidates = selected ? selectDevices(all, args.selector) : await upsCandidates(binding, all);

      if (!selected && !args.capture) {
        if (candidates.length === 0) {
          io.stdout('no HID UPS found (is it plugged in? `lsusb` should list it)\n');
          return ExitCodes.NO_DEVICE;
        }
        io.stdout('VENDOR PRODUCT SERIAL            PATH                 TABLE       NAME\n');
        for (const d of candidates) {
          const name = [d.manufacturer, d.product].filter(Boolean).join(' ');
          io.stdout(
            `${d.vendorId.padEnd(6)} ${d.productId.padEnd(7)} ${(d.serialNumber ?? '-').padEnd(17)} ${d.path.padEnd(20)} ${vendorProfileFor(d.vendorId).id.padEnd(11)} ${name}\n`,
          );
        }
        return ExitCodes.OK;
      }

      const target = candidates[0];
      if (!target) {
        io.stderr('upsfleet probe: no matching HID UPS is attached\n');
        return ExitCodes.NO_DEVICE;
      }
      if (candidates.length > 1)
        io.stderr(`upsfleet probe: ${candidates.length} devices match; using ${target.path}\n`);
      const { capture, descriptor, unanswered, inputIdsMissing } = await captureDevice(binding, target, {
        ...(deps.clock ? { clock: deps.clock } : {}),
        ...(deps.inputWaitMs !== undefined ? { inputWaitMs: deps.inputWaitMs } : {}),
      });
      if (unanswered.length)
        io.stderr(`upsfleet probe: reports not answered to GET_REPORT: ${unanswered.join(', ')}\n`);
      if (inputIdsMissing.length)
        io.stderr(
          `upsfleet probe: no input report ${inputIdsMissing.join(', ')} arrived while probing; values only they carry are missing\n`,
        );
      if (args.capture) {
        await writeFile(args.capture, formatCapture(capture));
        io.stderr(`upsfleet probe: capture written to ${args.capture}\n`);
        if (!selected) return ExitCodes.OK;
      }
      printVars(io, replayCapture(capture, descriptor).vars, args.json);
      return ExitCodes.OK;
    } catch (err) {
      return explain(io, err);
    }
  };
}

export const probeCommand: CommandHandler = createProbeCommand();
