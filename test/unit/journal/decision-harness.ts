/**
 * The master's decision core in one process on a ManualClock, wired exactly as the master wires it
 * (journalDecisions, resumeFromJournal, runFinalStep) but with in-process members instead of sockets:
 * a real Journal file, StateHub, Policy, Sequencer, FleetRegistry and SimulatedSource. Members answer
 * their orders after a delay (ack, then a dry-run going-down), like dry-run agents.
 */
import { join } from 'node:path';
import { FleetRegistry, type MemberChannel } from '../../../master/fleet/registry.js';
import { journalDecisions } from '../../../master/journal/decision-journal.js';
import { Journal } from '../../../master/journal/journal.js';
import type { StoredRecord } from '../../../master/journal/journal-line.js';
import { readJournal } from '../../../master/journal/journal-reader.js';
import {
  emptyRecoveredState,
  type RecoveredState,
  reduceRecovered,
} from '../../../master/journal/recovery.js';
import { type ResumeResult, resumeFromJournal } from '../../../master/journal/resume.js';
import { Policy } from '../../../master/policy/policy.js';
import { Sequencer } from '../../../master/sequencer/sequencer.js';
import { runFinalStep } from '../../../master/shutdown/final-step.js';
import { SimulatedSource } from '../../../master/sources/simulated/simulated-source.js';
import { StateHub } from '../../../master/state/state-hub.js';
import type { ManualClock } from '../../../shared/clock.js';
import { type MasterSettings, parseMasterSettings } from '../../../shared/config/master-settings.js';
import { silentLogger } from '../../../shared/logger.js';

export interface HarnessMember {
  id: string;
  group: string;
  /** How long it takes from its order to its ack, and from the ack to its going-down. */
  answerMs: number;
}

export const MEMBERS: HarnessMember[] = [
  { id: 'lab1', group: 'lab', answerMs: 1000 },
  { id: 'app1', group: 'app', answerMs: 1000 },
  { id: 'app2', group: 'app', answerMs: 2000 },
  { id: 'db1', group: 'db', answerMs: 1000 },
];

export function harnessSettings(dir: string, opts: { labTrigger?: string } = {}): MasterSettings {
  return parseMasterSettings(
    JSON.stringify({
      master: { id: 'm', listen: '127.0.0.1:0', stateDir: 'state', mdns: false },
      ups: { source: { type: 'simulated', script: 'ups.status: OL\n' } },
      policy: { debounce: '5s' },
      groups: { lab: { trigger: { onBatteryFor: opts.labTrigger ?? '30s' }, deadline: '60s', settle: '0s' } },
      sequence: [
        { groups: ['app'], deadline: '60s', settle: '0s' },
        { groups: ['db'], deadline: '60s', settle: '0s' },
      ],
      shutdown: { dryRun: true, marker: join(dir, 'master.poweroff') },
    }),
    join(dir, 'master.yaml'),
  );
}

export class DecisionHarness {
  readonly hub: StateHub;
  readonly registry = new FleetRegistry();
  readonly journal: Journal<RecoveredState>;
  readonly policy: Policy;
  readonly sequencer: Sequencer;
  readonly source: SimulatedSource;
  /** Every order a member received in this process, in order. */
  readonly orders: Array<{ memberId: string; orderId: string; step: number | null; at: number }> = [];
  resumed: ResumeResult | null = null;
  private readonly channels = new Map<string, MemberChannel>();
  private readonly logger = silentLogger();

  constructor(
    readonly settings: MasterSettings,
    readonly clock: ManualClock,
    readonly members: HarnessMember[] = MEMBERS,
  ) {
    this.hub = new StateHub('ups', clock);
    this.journal = new Journal({
      file: join(settings.stateDir, 'journal.jsonl'),
      clock,
      logger: this.logger,
      initial: emptyRecoveredState(),
      reduce: reduceRecovered,
    });
    this.source = new SimulatedSource({ upsName: 'ups', steps: [], clock, logger: this.logger });
    this.policy = new Policy({
      clock,
      logger: this.logger,
      debounceMs: settings.policy.debounceMs,
      deadtimeMs: settings.policy.deadtimeMs,
      critical: settings.policy.critical,
      earlyGroups: settings.earlyGroups,
    });
    this.sequencer = new Sequencer({
      clock,
      logger: this.logger,
      masterId: settings.id,
      steps: settings.sequence,
      earlyGroups: settings.earlyGroups,
      registry: this.registry,
      finalStep: (ctx) =>
        runFinalStep(
          { settings, journal: this.journal, clock, logger: this.logger, source: this.source },
          ctx,
        ),
      batch: (fn) => this.journal.batch(fn),
    });
    for (const m of members) this.registry.declare(m.id, 'agent', m.group);
  }

  /** What the master does on start: read the journal, resume, then listen to the UPS. */
  start(): void {
    const state = this.journal.open();
    journalDecisions({
      policy: this.policy,
      sequencer: this.sequencer,
      journal: this.journal,
      clock: this.clock,
      logger: this.logger,
      broadcast: () => {},
    });
    this.resumed = resumeFromJournal({
      state,
      policy: this.policy,
      sequencer: this.sequencer,
      journal: this.journal,
      clock: this.clock,
      logger: this.logger,
      bootedAt: 0,
    });
    this.policy.attach(this.hub);
  }

  connectAll(): void {
    for (const m of this.members) this.connect(m);
  }

  setStatus(status: string, charge = '50'): void {
    this.hub.publishVars({ 'ups.status': status, 'battery.charge': charge });
  }

  /** Moves the clock in small steps, letting the final step's promises run in between. */
  async run(ms: number, stepMs = 250): Promise<void> {
    for (let left = ms; left > 0; left -= stepMs) {
      this.clock.advance(Math.min(stepMs, left));
      await new Promise((r) => setImmediate(r));
    }
  }

  records(): StoredRecord[] {
    return readRecords(this.journal.file);
  }

  stop(): void {
    this.policy.stop();
    this.sequencer.stop();
    this.journal.close();
  }

  private connect(m: HarnessMember): void {
    const channel: MemberChannel = {
      sendOrder: (order) => {
        this.orders.push({ memberId: m.id, orderId: order.orderId, step: order.step, at: this.clock.now() });
        this.clock.setTimer(m.answerMs, () => {
          this.sequencer.onAck(m.id, order.orderId);
          this.clock.setTimer(m.answerMs, () => this.sequencer.onGoingDown(m.id, order.orderId, true, 0));
        });
      },
    };
    this.channels.set(m.id, channel);
    this.registry.connect(
      {
        id: m.id,
        kind: 'agent',
        group: m.group,
        version: 't',
        dryRun: true,
        address: null,
        lastSeen: this.clock.now(),
      },
      channel,
    );
  }
}

export function readRecords(file: string): StoredRecord[] {
  return readJournal(file, 2, false).records;
}
