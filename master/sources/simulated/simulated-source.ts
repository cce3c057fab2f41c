/**
 * The simulated source: plays a timeline (demos, drills, tests) and accepts live changes (admin
 * `upsfleet simulate set`). Instant commands are recorded, so tests can assert that killpower was sent.
 * With a stateDir it behaves like a real UPS across a restart of the master: its variables, timeline
 * position and the end of the current TIMER are saved before the master is told of a change, and the
 * commands it accepted are appended to a log.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import { UpsfleetError } from '../../../shared/errors.js';
import { formatStatus, parseStatus } from '../../../shared/nut/status.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import type { Source, SourceListener, WritableVariable } from '../source.js';
import { SimulatedCommandLog } from './simulated-command-log.js';
import {
  SIMULATED_STATE_FORMAT,
  type SimulatedState,
  SimulatedStateFile,
  timelineFingerprint,
} from './simulated-state-file.js';
import type { TimelineStep } from './timeline.js';

export interface SimulatedSourceOptions {
  upsName: string;
  steps: TimelineStep[];
  initial?: UpsVars;
  loop?: boolean;
  /** Timeline seconds are divided by this. */
  speed?: number;
  clock: Clock;
  logger: Logger;
  /** Set (config `persist: true`): state and accepted commands are kept here across restarts. */
  stateDir?: string;
}

export interface RecordedCommand {
  name: string;
  param: string | undefined;
  at: number;
}

const COMMANDS = [
  'shutdown.return',
  'shutdown.stayoff',
  'shutdown.stop',
  'load.off.delay',
  'load.on.delay',
  'beeper.enable',
  'beeper.disable',
  'beeper.mute',
  'test.battery.start.quick',
  'test.battery.start.deep',
  'test.battery.stop',
];

const DEFAULT_VARS: UpsVars = {
  'device.type': 'ups',
  'device.mfr': 'upsfleet',
  'device.model': 'Simulated UPS',
  'driver.name': 'upsfleet-simulated',
  'ups.status': 'OL',
  'battery.charge': '100',
  'battery.charge.low': '10',
  'battery.runtime': '1800',
  'battery.runtime.low': '120',
  'ups.delay.shutdown': '20',
  'ups.delay.start': '30',
};

export class SimulatedSource implements Source {
  readonly kind = 'simulated';
  readonly upsName: string;
  readonly recordedCommands: RecordedCommand[] = [];
  private vars: UpsVars;
  private listener: SourceListener | null = null;
  private timer: TimerHandle | null = null;
  private position = 0;
  private commOk = true;
  private commReason = 'scripted';
  /** When the TIMER being waited on ends (epoch ms); null when not waiting. */
  private waitEndsAt: number | null = null;
  private readonly stateFile: SimulatedStateFile | null;
  private readonly commandLog: SimulatedCommandLog | null;
  private readonly timeline: string;

  constructor(private readonly opts: SimulatedSourceOptions) {
    this.upsName = opts.upsName;
    this.vars = { ...DEFAULT_VARS, ...(opts.initial ?? {}) };
    const dir = opts.stateDir;
    this.stateFile = dir === undefined ? null : new SimulatedStateFile(dir, opts.clock, opts.logger);
    this.commandLog = dir === undefined ? null : new SimulatedCommandLog(dir, opts.clock, opts.logger);
    this.timeline = dir === undefined ? '' : timelineFingerprint(opts.steps);
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    const saved = this.savedStateToResume();
    if (saved) {
      this.resume(saved);
      return;
    }
    this.position = 0;
    this.run();
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    this.listener = null;
  }

  commands(): string[] {
    return [...COMMANDS];
  }

  writableVariables(): WritableVariable[] {
    return [
      { name: 'battery.charge.low', type: 'RANGE', range: { min: 0, max: 100 } },
      { name: 'battery.runtime.low', type: 'NUMBER' },
      { name: 'ups.delay.shutdown', type: 'NUMBER' },
      { name: 'ups.delay.start', type: 'NUMBER' },
    ];
  }

  async instantCommand(name: string, param?: string): Promise<void> {
    if (!COMMANDS.includes(name)) {
      throw new UpsfleetError(
        'SOURCE_COMMAND_UNSUPPORTED',
        `the simulated UPS has no instant command "${name}"`,
      );
    }
    const command = { name, param, at: this.opts.clock.now() };
    this.recordedCommands.push(command);
    this.commandLog?.append(command);
    this.opts.logger.info({ command: name, param }, 'simulated UPS received instant command');
  }

  /** Any variable may be set on a simulated UPS (this is how the CLI plays an outage live). */
  async setVariable(name: string, value: string): Promise<void> {
    this.apply(name, value);
    this.publish();
  }

  private apply(name: string, value: string): void {
    this.vars[name] = name === 'ups.status' ? formatStatus(parseStatus(value)) : value;
  }

  /** Saves first: the UPS is in its new state before the master can react to it (and crash). */
  private publish(): void {
    this.save();
    if (this.commOk) this.listener?.update({ ...this.vars });
  }

  private save(): void {
    this.stateFile?.save({
      format: SIMULATED_STATE_FORMAT,
      timeline: this.timeline,
      vars: { ...this.vars },
      nextStep: this.position,
      waitEndsAt: this.waitEndsAt,
      comm: { ok: this.commOk, reason: this.commReason },
      savedAt: this.opts.clock.now(),
    });
  }

  /** The saved state if there is one and it belongs to this timeline; a mismatch is logged and ignored. */
  private savedStateToResume(): SimulatedState | null {
    const saved = this.stateFile?.load() ?? null;
    if (!saved) return null;
    if (saved.timeline !== this.timeline || saved.nextStep > this.opts.steps.length) {
      this.opts.logger.warn(
        { path: this.stateFile!.path, nextStep: saved.nextStep, steps: this.opts.steps.length },
        'the saved simulated UPS state belongs to another timeline: starting the simulated UPS afresh',
      );
      return null;
    }
    return saved;
  }

  /** Goes on where the saved state stopped: same variables and comm, the rest of the current TIMER. */
  private resume(saved: SimulatedState): void {
    this.vars = { ...saved.vars };
    this.position = saved.nextStep;
    this.commOk = saved.comm.ok;
    this.commReason = saved.comm.reason;
    const waitLeftMs =
      saved.waitEndsAt === null ? null : Math.max(0, saved.waitEndsAt - this.opts.clock.now());
    this.opts.logger.info(
      { path: this.stateFile!.path, nextStep: this.position, waitLeftMs, commOk: this.commOk },
      'simulated UPS resumed from its saved state',
    );
    if (this.commOk) this.listener?.update({ ...this.vars });
    else this.listener?.comm(false, this.commReason);
    if (waitLeftMs !== null) this.wait(waitLeftMs);
    else if (this.position < this.opts.steps.length) this.run();
  }

  private wait(ms: number): void {
    this.waitEndsAt = this.opts.clock.now() + ms;
    this.timer = this.opts.clock.setTimer(ms, () => {
      this.waitEndsAt = null;
      this.run();
    });
  }

  /** Applies steps up to the next TIMER, publishes, and schedules the rest. */
  private run(): void {
    const { steps } = this.opts;
    let dirty = this.position === 0;
    while (this.position < steps.length) {
      const step = steps[this.position++]!;
      if (step.kind === 'set') {
        this.apply(step.name, step.value);
        dirty = true;
      } else if (step.kind === 'alarm') {
        const status = parseStatus(this.vars['ups.status']);
        if (step.text) {
          this.vars['ups.alarm'] = step.text;
          status.add('ALARM');
        } else {
          delete this.vars['ups.alarm'];
          status.delete('ALARM');
        }
        this.vars['ups.status'] = formatStatus(status);
        dirty = true;
      } else if (step.kind === 'comm') {
        if (dirty) this.publish();
        dirty = false;
        this.commOk = step.ok;
        this.commReason = step.reason;
        this.save();
        this.listener?.comm(step.ok, step.reason);
        if (step.ok) dirty = true;
      } else {
        const ms = (step.seconds * 1000) / (this.opts.speed ?? 1);
        // the wait's end is part of the state saved with this publish
        this.waitEndsAt = this.opts.clock.now() + ms;
        if (dirty) this.publish();
        else this.save();
        this.wait(ms);
        return;
      }
    }
    const loop = this.opts.loop && steps.some((s) => s.kind === 'wait');
    const loopPauseMs = 1000 / (this.opts.speed ?? 1);
    if (loop) {
      this.position = 0;
      this.waitEndsAt = this.opts.clock.now() + loopPauseMs;
    }
    if (dirty) this.publish();
    else this.save();
    if (loop) this.wait(loopPauseMs);
  }
}
