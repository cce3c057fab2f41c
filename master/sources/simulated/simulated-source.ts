/**
 * The simulated source: plays a timeline (demos, drills, tests) and accepts live changes (admin
 * `upsfleet simulate set`). Instant commands are recorded, so tests can assert that killpower was sent.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../../shared/clock.js';
import { UpsfleetError } from '../../../shared/errors.js';
import { formatStatus, parseStatus } from '../../../shared/nut/status.js';
import type { UpsVars } from '../../../shared/nut/ups-state.js';
import type { Source, SourceListener, WritableVariable } from '../source.js';
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

  constructor(private readonly opts: SimulatedSourceOptions) {
    this.upsName = opts.upsName;
    this.vars = { ...DEFAULT_VARS, ...(opts.initial ?? {}) };
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
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
    this.recordedCommands.push({ name, param, at: this.opts.clock.now() });
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

  private publish(): void {
    if (this.commOk) this.listener?.update({ ...this.vars });
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
        this.listener?.comm(step.ok, step.reason);
        if (step.ok) dirty = true;
      } else {
        if (dirty) this.publish();
        const ms = (step.seconds * 1000) / (this.opts.speed ?? 1);
        this.timer = this.opts.clock.setTimer(ms, () => this.run());
        return;
      }
    }
    if (dirty) this.publish();
    if (this.opts.loop && steps.some((s) => s.kind === 'wait')) {
      this.position = 0;
      this.timer = this.opts.clock.setTimer(1000 / (this.opts.speed ?? 1), () => this.run());
    }
  }
}
