/**
 * The master's operations layer, beside the shutdown path and never in it: notifications (command and
 * webhooks) on power events, sequences and drills; the drill measurements kept in the stateDir; the
 * battery plan and its warning; the Prometheus metrics. It only listens to the hub, the policy and the
 * sequencer, so the fleet shutdown does not depend on any of it.
 */
import type { Clock } from '../shared/clock.js';
import type { MasterSettings, StepSpec } from '../shared/config/master-settings.js';
import type { Logger } from '../shared/logger.js';
import { DrillRecorder } from './drill/drill-recorder.js';
import type { DrillReport } from './drill/drill-report.js';
import { DrillStore } from './drill/drill-store.js';
import type { FleetRegistry } from './fleet/registry.js';
import type { JournalStatus } from './journal/journal.js';
import { MasterNotifier } from './notify/master-notifier.js';
import { computePlan, type PlanView } from './plan/plan.js';
import { PlanWatch } from './plan/plan-watch.js';
import type { Policy } from './policy/policy.js';
import type { Sequencer } from './sequencer/sequencer.js';
import type { AgentLinkView } from './servers/agent-server.js';
import { MasterMetrics } from './servers/metrics.js';
import type { StateHub } from './state/state-hub.js';

export const DRILL_EVENT = 'DRILL';

export interface FleetOpsDeps {
  settings: MasterSettings;
  steps: StepSpec[];
  clock: Clock;
  logger: Logger;
  hub: StateHub;
  policy: Policy;
  sequencer: Sequencer;
  registry: FleetRegistry;
  events: () => Record<string, number>;
  rejections: () => Record<string, number>;
  journal?: () => JournalStatus;
  /** What the agent server measured of an agent's link (RTT, clock skew). */
  link?: (agentId: string) => AgentLinkView | undefined;
}

export class FleetOps {
  readonly notifier: MasterNotifier;
  readonly drills: DrillStore;
  readonly metrics: MasterMetrics;
  private readonly recorder: DrillRecorder;
  private readonly planWatch: PlanWatch;
  private readonly detach: Array<() => void> = [];

  constructor(private readonly deps: FleetOpsDeps) {
    const { settings, clock, logger, hub } = deps;
    this.notifier = new MasterNotifier({
      masterId: settings.id,
      ups: settings.ups.name,
      notify: settings.notify,
      vars: () => hub.snapshot().vars,
      clock,
      logger,
    });
    this.drills = new DrillStore(settings.stateDir, logger);
    this.planWatch = new PlanWatch({
      logger: logger.child({ module: 'plan' }),
      notify: (e, m, x) => this.notifier.notify(e, m, x),
    });
    this.recorder = new DrillRecorder({
      clock,
      logger: logger.child({ module: 'drill' }),
      view: () => deps.sequencer.view(),
      store: this.drills,
      recorded: (report) => this.drillRecorded(report),
    });
    this.metrics = new MasterMetrics({
      masterId: settings.id,
      nutExporter: settings.metrics.nutExporter,
      hub: () => hub.snapshot(),
      critical: () => deps.policy.view().critical,
      agents: () => deps.registry.all(),
      groups: () => [
        ...new Set([...deps.steps.flatMap((s) => s.groups), ...settings.earlyGroups.map((g) => g.name)]),
      ],
      sequence: () => deps.sequencer.view(),
      plan: () => this.plan(),
      events: deps.events,
      rejections: deps.rejections,
      ...(deps.journal ? { journal: deps.journal } : {}),
      ...(deps.link ? { link: deps.link } : {}),
    });
  }

  start(): void {
    const { hub, policy, sequencer } = this.deps;
    this.drills.load();
    this.detach.push(
      hub.subscribe({
        vars: (_snap, changed) => {
          if (changed.includes('battery.runtime')) this.planWatch.check(this.plan());
        },
      }),
      policy.subscribe({
        event: (event, message) => this.notifier.notify(event, message),
        critical: (reason) => this.notifier.notify('SHUTDOWN', `the fleet is critical: ${reason}`),
        early: (group, reason) =>
          this.notifier.notify('EARLY', `early group ${group} ordered down: ${reason}`, { group }),
      }),
      sequencer.subscribe({ timeline: (entry) => this.recorder.timeline(entry) }),
    );
    this.planWatch.check(this.plan());
  }

  async stop(): Promise<void> {
    for (const d of this.detach.splice(0)) d();
    this.recorder.stop();
    await this.notifier.stop();
  }

  plan(): PlanView {
    return computePlan({
      steps: this.deps.steps,
      drill: this.drills.last,
      marginMs: this.deps.settings.plan.marginMs,
      runtime: this.deps.hub.snapshot().vars['battery.runtime'],
    });
  }

  private drillRecorded(report: DrillReport): void {
    const took = report.durationMs === null ? '?' : `${(report.durationMs / 1000).toFixed(1)}s`;
    this.notifier.notify(
      DRILL_EVENT,
      report.ok
        ? `drill passed: ${report.hosts.length} hosts in ${took}`
        : `drill finished with ${report.failures} failure(s) in ${took}`,
      {
        drill: {
          runId: report.runId,
          ok: report.ok,
          failures: report.failures,
          durationMs: report.durationMs,
        },
      },
    );
    this.planWatch.check(this.plan());
  }
}
