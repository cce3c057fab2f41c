/**
 * GET /metrics in the Prometheus text format (prom-client, a registry of our own, values read at scrape time
 * from the same views /status serves): UPS variables as gauges, status flags, agents connected per group,
 * sequence state and timings, the battery plan, event and rejected-message counters, process metrics.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { STATUS_TOKENS } from '../../shared/nut/status.js';
import type { MemberInfo } from '../fleet/registry.js';
import type { JournalStatus } from '../journal/journal.js';
import type { PlanView } from '../plan/plan.js';
import type { SequenceView } from '../sequencer/sequence-view.js';
import type { HubSnapshot } from '../state/state-hub.js';
import type { AgentLinkView } from './agent-server.js';
import { NutExporterMetrics } from './nut-exporter-metrics.js';

export interface MetricsInputs {
  masterId: string;
  /** Also export the UPS as nut_exporter does (`network_ups_tools_*`, nut-exporter-metrics.ts); default true. */
  nutExporter?: boolean;
  hub(): HubSnapshot;
  critical(): boolean;
  agents(): MemberInfo[];
  /** Every group of the configuration (so an empty group shows 0, not nothing). */
  groups(): string[];
  sequence(): SequenceView;
  plan(): PlanView;
  events(): Record<string, number>;
  rejections(): Record<string, number>;
  /** The journal's health (absent in tests that build metrics without a master). */
  journal?(): JournalStatus;
  /** What was measured of an agent's link (absent: no link series). */
  link?(agentId: string): AgentLinkView | undefined;
}

/** The tokens of ups.status, one series each (0 or 1); WAIT is upsd's placeholder, not a UPS state. */
export const STATUS_FLAGS = STATUS_TOKENS.filter((t) => t !== 'WAIT');

/** Well-known NUT variables with a name and unit of their own; every numeric variable is also in upsfleet_ups_variable. */
const NAMED_VARIABLES: Array<{ variable: string; name: string; help: string }> = [
  {
    variable: 'battery.charge',
    name: 'upsfleet_ups_battery_charge_percent',
    help: 'battery.charge: battery charge (%)',
  },
  {
    variable: 'battery.runtime',
    name: 'upsfleet_ups_battery_runtime_seconds',
    help: 'battery.runtime: estimated runtime (s)',
  },
  { variable: 'battery.voltage', name: 'upsfleet_ups_battery_voltage_volts', help: 'battery.voltage (V)' },
  { variable: 'input.voltage', name: 'upsfleet_ups_input_voltage_volts', help: 'input.voltage (V)' },
  { variable: 'output.voltage', name: 'upsfleet_ups_output_voltage_volts', help: 'output.voltage (V)' },
  { variable: 'ups.load', name: 'upsfleet_ups_load_percent', help: 'ups.load: load (% of nominal)' },
];

const SEQUENCE_STATES = ['idle', 'running', 'final', 'done'] as const;

function numeric(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function seconds(ms: number | null | undefined): number | null {
  return ms === null || ms === undefined ? null : ms / 1000;
}

export class MasterMetrics {
  readonly registry = new Registry();
  private readonly nut: NutExporterMetrics | null;

  constructor(inputs: MetricsInputs) {
    const r = this.registry;
    this.nut = inputs.nutExporter === false ? null : new NutExporterMetrics(r, () => inputs.hub());
    const ups = () => inputs.hub().ups;

    new Gauge({
      name: 'upsfleet_ups_variable',
      help: 'Every numeric UPS variable, by its NUT name',
      labelNames: ['ups', 'variable'],
      registers: [r],
      collect() {
        this.reset();
        const hub = inputs.hub();
        for (const [variable, value] of Object.entries(hub.vars)) {
          const n = numeric(value);
          if (n !== null) this.set({ ups: hub.ups, variable }, n);
        }
      },
    });
    for (const v of NAMED_VARIABLES) {
      new Gauge({
        name: v.name,
        help: v.help,
        labelNames: ['ups'],
        registers: [r],
        collect() {
          this.reset();
          const n = numeric(inputs.hub().vars[v.variable]);
          if (n !== null) this.set({ ups: ups() }, n);
        },
      });
    }
    new Gauge({
      name: 'upsfleet_ups_status',
      help: 'ups.status tokens: 1 when the flag is set',
      labelNames: ['ups', 'flag'],
      registers: [r],
      collect() {
        this.reset();
        const hub = inputs.hub();
        const tokens = new Set((hub.vars['ups.status'] ?? '').split(/\s+/).filter(Boolean));
        for (const flag of STATUS_FLAGS) this.set({ ups: hub.ups, flag }, tokens.has(flag) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'upsfleet_ups_communicating',
      help: '1 while the UPS source delivers fresh data',
      labelNames: ['ups'],
      registers: [r],
      collect() {
        const hub = inputs.hub();
        this.set({ ups: hub.ups }, hub.stale || hub.waiting ? 0 : 1);
      },
    });
    new Gauge({
      name: 'upsfleet_ups_last_update_timestamp_seconds',
      help: 'When the source last delivered data',
      labelNames: ['ups'],
      registers: [r],
      collect() {
        this.reset();
        const hub = inputs.hub();
        if (hub.updatedAt !== null) this.set({ ups: hub.ups }, hub.updatedAt / 1000);
      },
    });
    const journal = inputs.journal;
    if (journal) {
      new Gauge({
        name: 'upsfleet_journal_ok',
        help: '1 while the journal writes reach the disk; 0 while it is degraded to log-only (disk full, I/O error)',
        registers: [r],
        collect() {
          this.set(journal().ok ? 1 : 0);
        },
      });
      new Gauge({
        name: 'upsfleet_journal_pending_records',
        help: 'Journal records held in memory until the disk takes them again',
        registers: [r],
        collect() {
          this.set(journal().pending);
        },
      });
      new Counter({
        name: 'upsfleet_journal_write_failures_total',
        help: 'Journal writes or fsyncs that failed',
        registers: [r],
        collect() {
          this.reset();
          this.inc(journal().writeFailures);
        },
      });
    }
    new Gauge({
      name: 'upsfleet_fleet_critical',
      help: '1 once the fleet is critical (the shutdown sequence starts)',
      registers: [r],
      collect() {
        this.set(inputs.critical() ? 1 : 0);
      },
    });

    const perGroup = (connected: boolean | null) =>
      function (this: Gauge<'group'>) {
        this.reset();
        const counts = new Map<string, number>(inputs.groups().map((g) => [g, 0]));
        for (const a of inputs.agents()) {
          if (connected === null || a.connected === connected)
            counts.set(a.group, (counts.get(a.group) ?? 0) + 1);
          else if (!counts.has(a.group)) counts.set(a.group, 0);
        }
        for (const [group, n] of counts) this.set({ group }, n);
      };
    new Gauge({
      name: 'upsfleet_agents_connected',
      help: 'Agents and NUT clients connected, per group',
      labelNames: ['group'],
      registers: [r],
      collect: perGroup(true),
    });
    new Gauge({
      name: 'upsfleet_agents_known',
      help: 'Agents and NUT clients declared or seen, per group',
      labelNames: ['group'],
      registers: [r],
      collect: perGroup(null),
    });
    new Gauge({
      name: 'upsfleet_agent_last_seen_timestamp_seconds',
      help: 'When each member was last heard from',
      labelNames: ['agent', 'group'],
      registers: [r],
      collect() {
        this.reset();
        for (const a of inputs.agents())
          if (a.lastSeen !== null) this.set({ agent: a.id, group: a.group }, a.lastSeen / 1000);
      },
    });

    const linkGauge = (name: string, help: string, pick: (l: AgentLinkView) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['agent', 'group'],
        registers: [r],
        collect() {
          this.reset();
          for (const a of inputs.agents()) {
            if (a.kind !== 'agent') continue;
            const link = inputs.link?.(a.id);
            const v = link ? pick(link) : null;
            if (v !== null) this.set({ agent: a.id, group: a.group }, v / 1000);
          }
        },
      });
    linkGauge(
      'upsfleet_agent_rtt_seconds',
      'Smoothed round-trip time of the master pings to each agent (the last measured, kept while it is away)',
      (l) => l.rttMs,
    );
    linkGauge(
      'upsfleet_agent_clock_skew_seconds',
      "Each agent's clock minus the master's, corrected by half the round trip (reported, never refused)",
      (l) => l.clockSkewMs,
    );
    linkGauge(
      'upsfleet_agent_liveness_seconds',
      'How long each agent may stay silent before the master drops it (grows with its round trip)',
      (l) => l.livenessMs,
    );

    new Gauge({
      name: 'upsfleet_sequence_state',
      help: 'The fleet sequence state: 1 for the current one',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const s = inputs.sequence().state;
        for (const state of SEQUENCE_STATES) this.set({ state }, s === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'upsfleet_sequence_drill',
      help: '1 when the current or last sequence is a drill',
      registers: [r],
      collect() {
        this.set(inputs.sequence().drill ? 1 : 0);
      },
    });
    new Gauge({
      name: 'upsfleet_sequence_started_timestamp_seconds',
      help: 'When the current or last sequence started',
      registers: [r],
      collect() {
        this.reset();
        const s = inputs.sequence().startedAt;
        if (s !== null) this.set(s / 1000);
      },
    });
    new Gauge({
      name: 'upsfleet_sequence_duration_seconds',
      help: 'How long the last finished sequence took, start to end',
      registers: [r],
      collect() {
        this.reset();
        const v = inputs.sequence();
        const d = v.startedAt !== null && v.endedAt !== null ? seconds(v.endedAt - v.startedAt) : null;
        if (d !== null) this.set(d);
      },
    });
    new Gauge({
      name: 'upsfleet_sequence_step_duration_seconds',
      help: 'How long each step of the current or last sequence took (running steps: so far)',
      labelNames: ['step', 'groups'],
      registers: [r],
      collect() {
        this.reset();
        const now = Date.now();
        for (const s of inputs.sequence().steps) {
          if (s.startedAt === null || s.index === null) continue;
          this.set(
            { step: String(s.index), groups: s.groups.join(',') },
            ((s.endedAt ?? now) - s.startedAt) / 1000,
          );
        }
      },
    });
    const memberTiming = (pick: (m: SequenceView['steps'][number]['members'][number]) => number | null) =>
      function (this: Gauge<'agent' | 'group'>) {
        this.reset();
        for (const s of inputs.sequence().steps)
          for (const m of s.members) {
            const v = pick(m);
            if (v !== null) this.set({ agent: m.id, group: m.group }, v / 1000);
          }
      };
    new Gauge({
      name: 'upsfleet_member_ack_latency_seconds',
      help: 'Order sent to ack received, per member, in the current or last sequence',
      labelNames: ['agent', 'group'],
      registers: [r],
      collect: memberTiming((m) => (m.orderedAt !== null && m.ackAt !== null ? m.ackAt - m.orderedAt : null)),
    });
    new Gauge({
      name: 'upsfleet_member_shutdown_seconds',
      help: 'Order sent to confirmed down (drill: to going-down), per member, in the current or last sequence',
      labelNames: ['agent', 'group'],
      registers: [r],
      collect: memberTiming((m) =>
        m.orderedAt !== null && m.downAt !== null ? m.downAt - m.orderedAt : null,
      ),
    });

    new Gauge({
      name: 'upsfleet_plan_required_seconds',
      help: 'Battery time the sequence needs (last drill, else deadlines)',
      registers: [r],
      collect() {
        this.set(inputs.plan().requiredMs / 1000);
      },
    });
    new Gauge({
      name: 'upsfleet_plan_margin_seconds',
      help: 'Spare battery time the plan must leave (plan.margin)',
      registers: [r],
      collect() {
        this.set(inputs.plan().marginMs / 1000);
      },
    });
    new Gauge({
      name: 'upsfleet_plan_fits',
      help: '1 when the sequence fits in battery.runtime with the margin, 0 when not (absent: no runtime reported)',
      registers: [r],
      collect() {
        this.reset();
        const fits = inputs.plan().fits;
        if (fits !== null) this.set(fits ? 1 : 0);
      },
    });

    new Counter({
      name: 'upsfleet_power_events_total',
      help: 'Power events (ONBATT, LOWBATT, ...) since the master started',
      labelNames: ['event'],
      registers: [r],
      collect() {
        this.reset();
        for (const [event, n] of Object.entries(inputs.events())) this.inc({ event }, n);
      },
    });
    new Counter({
      name: 'upsfleet_rejected_messages_total',
      help: 'Inbound messages rejected, by error code',
      labelNames: ['code'],
      registers: [r],
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(inputs.rejections())) this.inc({ code }, n);
      },
    });
    new Gauge({
      name: 'upsfleet_master_info',
      help: 'The master (value always 1)',
      labelNames: ['id'],
      registers: [r],
      collect() {
        this.set({ id: inputs.masterId }, 1);
      },
    });
    // a few process metrics of our own: prom-client's defaults include gauges named *_total, which promtool rejects
    new Gauge({
      name: 'upsfleet_process_start_time_seconds',
      help: 'When the master process started',
      registers: [r],
      collect() {
        this.set(Math.round(Date.now() / 1000 - process.uptime()));
      },
    });
    new Gauge({
      name: 'upsfleet_process_resident_memory_bytes',
      help: 'Resident memory of the master process',
      registers: [r],
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Counter({
      name: 'upsfleet_process_cpu_seconds_total',
      help: 'User and system CPU time of the master process',
      registers: [r],
      collect() {
        const u = process.cpuUsage();
        this.reset();
        this.inc((u.user + u.system) / 1e6);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    this.nut?.sync();
    return this.registry.metrics();
  }
}
