/**
 * The emulator's command language, one command a line, the same for a script file and for lines typed on
 * standard input:
 *   wait 10s                          pause (scripts only make sense with it)
 *   set PresentStatus.ACPresent 0     set every field matching a usage-path suffix to a physical value
 *   report 0c64                       replace what GET_REPORT answers for a report (hex, ID first)
 *   input 0b900100000001              send an interrupt-IN report (hex, ID first)
 *   inputs                            send every Input report again
 *   unplug / replug                   destroy the kernel device / create it again
 * `#` starts a comment. Built-in scenarios are scripts too (SCENARIOS).
 */
import { parseDuration } from '../../../../shared/duration.js';
import { UpsfleetError } from '../../../../shared/errors.js';

export type ScriptStep =
  | { kind: 'wait'; ms: number; line: number }
  | { kind: 'set'; pattern: string; value: number; line: number }
  | { kind: 'report' | 'input'; hex: string; line: number }
  | { kind: 'inputs' | 'unplug' | 'replug'; line: number };

/** Named scripts for `--scenario`. The status fields are set wherever the device has them. */
export const SCENARIOS: Record<string, string> = {
  // mains fail after 5 s (OL -> OB DISCHRG), the battery reports low 10 s later (OB LB)
  outage: [
    'wait 5s',
    'set PresentStatus.ACPresent 0',
    'set PresentStatus.Discharging 1',
    'set PresentStatus.Charging 0',
    'wait 10s',
    'set PresentStatus.BelowRemainingCapacityLimit 1',
  ].join('\n'),
  // the USB cable is pulled after 5 s and plugged back 5 s later
  unplug: ['wait 5s', 'unplug', 'wait 5s', 'replug'].join('\n'),
};

function fail(where: string, line: number, message: string): never {
  throw new UpsfleetError('HID_CAPTURE', `${where}:${line}: ${message}`, { file: where, line });
}

/** Parses one command line; undefined for a blank or comment line. */
export function parseCommand(text: string, where = 'command', line = 1): ScriptStep | undefined {
  const words = text.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
  const [verb, ...args] = words;
  if (!verb) return undefined;
  const want = (n: number) => {
    if (args.length !== n)
      fail(where, line, `${verb} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
  };
  switch (verb) {
    case 'wait': {
      want(1);
      try {
        return { kind: 'wait', ms: parseDuration(args[0]!, `${where}:${line}`), line };
      } catch (err) {
        return fail(where, line, (err as Error).message);
      }
    }
    case 'set': {
      want(2);
      const value = Number(args[1]);
      if (!Number.isFinite(value)) fail(where, line, `set needs a number, got ${args[1]}`);
      return { kind: 'set', pattern: args[0]!, value, line };
    }
    case 'report':
    case 'input':
      want(1);
      if (!/^([0-9a-fA-F]{2})+$/.test(args[0]!)) fail(where, line, `${verb} needs hex bytes, got ${args[0]}`);
      return { kind: verb, hex: args[0]!.toLowerCase(), line };
    case 'inputs':
    case 'unplug':
    case 'replug':
      want(0);
      return { kind: verb, line };
    default:
      return fail(
        where,
        line,
        `unknown command "${verb}" (wait, set, report, input, inputs, unplug, replug)`,
      );
  }
}

/** Parses a whole script; throws HID_CAPTURE naming the file and line of the first problem. */
export function parseScript(text: string, where = 'script'): ScriptStep[] {
  const steps: ScriptStep[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const step = parseCommand(raw, where, index + 1);
    if (step) steps.push(step);
  }
  return steps;
}
