/**
 * Power that returns: when mains come back before the fleet sequence started, the hosts of early groups
 * that already left would stay off for good (nothing power-cycles them). The waker wakes them once mains
 * have been back for the group's `afterOnline` and battery.charge holds its `minCharge`: a Wake-on-LAN
 * magic packet to each host's MAC and/or the group's wake command (IPMI, a hypervisor CLI), once per host.
 *
 * Every decision is journaled before it takes effect, and the waker decides from the journal's own fold
 * (`journal.state.wake`, master/wake/wake-state.ts), so a restarted master neither wakes twice nor forgets a
 * wake that was pending. The conditions are checked again whenever the timer fires or anything changes:
 * power failing again cancels a pending wake (and the next outage can run the group again), and once the
 * fleet sequence started nothing is woken: killpower's power cycle brings every host back.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { EarlyGroupSpec } from '../../shared/config/master-settings.js';
import type { WakeSpec } from '../../shared/config/wake-settings.js';
import { isUpsfleetError } from '../../shared/errors.js';
import {
  type CommandResult,
  commandSucceeded,
  describeResult,
  type RunCommandOptions,
  runCommand as runCommandImpl,
} from '../../shared/exec/run-command.js';
import type { Logger } from '../../shared/logger.js';
import { parseStatus } from '../../shared/nut/status.js';
import { numberVar } from '../../shared/nut/ups-state.js';
import type { FleetRegistry } from '../fleet/registry.js';
import type { JournalRecord } from '../journal/journal-line.js';
import type { Policy } from '../policy/policy.js';
import type { EarlyGroupView, MemberView } from '../sequencer/sequence-view.js';
import type { Sequencer } from '../sequencer/sequencer.js';
import type { HubSnapshot, StateHub } from '../state/state-hub.js';
import { sendMagicPacket, type WolTarget } from './magic-packet.js';
import type { GroupWake, WakeHost, WakeState, WakeVia } from './wake-state.js';

export interface WakerDeps {
  clock: Clock;
  logger: Logger;
  /** Every early group; those with a `wake` section are woken. */
  earlyGroups: readonly EarlyGroupSpec[];
  journal: { write(record: JournalRecord): unknown; readonly state: { wake?: WakeState } };
  hub: Pick<StateHub, 'snapshot' | 'subscribe'>;
  policy: Pick<Policy, 'subscribe' | 'view' | 'rearmEarly'>;
  sequencer: Pick<Sequencer, 'view' | 'subscribe' | 'forgetEarly'>;
  registry: Pick<FleetRegistry, 'get' | 'isConnected' | 'subscribe'>;
  /** Seams for tests; default the real magic packet and run-command. */
  sendWol?: (mac: string, target: WolTarget) => Promise<void>;
  runCommand?: (command: string | readonly string[], opts: RunCommandOptions) => Promise<CommandResult>;
}

/** One group in /status: its settings, the wake (pending, sent, ...) and what it is waiting for now. */
export interface GroupWakeView extends Partial<GroupWake> {
  group: string;
  afterOnlineMs: number;
  minCharge: number;
  wol: WolTarget | null;
  command: boolean;
  /** What holds a pending wake back: 'mains' (not back long enough), 'charge', 'source' (no fresh data). */
  waitingFor: 'mains' | 'charge' | 'source' | null;
}

export interface WakeView {
  groups: GroupWakeView[];
}

interface Watched {
  spec: EarlyGroupSpec & { wake: WakeSpec };
  timer: TimerHandle | null;
  waitingFor: GroupWakeView['waitingFor'];
}

export class Waker {
  private readonly log: Logger;
  private readonly groups: Watched[];
  private readonly detach: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** When the current stretch on mains began, as seen by this process (null: on battery or unknown). */
  private mainsBackAt: number | null = null;
  private stopped = false;

  constructor(private readonly deps: WakerDeps) {
    this.log = deps.logger;
    this.groups = deps.earlyGroups
      .filter((g): g is EarlyGroupSpec & { wake: WakeSpec } => g.wake !== undefined)
      .map((spec) => ({ spec, timer: null, waitingFor: null }));
  }

  /** Listens after the journal was replayed and the sequencer resumed (their state is what it reads). */
  start(): void {
    if (this.groups.length === 0) return;
    const { hub, policy, sequencer, registry } = this.deps;
    this.detach.push(
      hub.subscribe({ vars: (snap) => this.onVars(snap), comm: () => this.evaluateAll() }),
      // after the decision journal's own listener: the status record (which may cancel a wake) is folded
      policy.subscribe({ status: () => this.evaluateAll() }),
      sequencer.subscribe({
        timeline: (e) => {
          if (e.kind === 'early-end' || e.kind === 'sequence-start' || e.kind === 'done') this.evaluateAll();
        },
      }),
      registry.subscribe({ connected: (info) => this.onConnected(info.id) }),
    );
    const snap = hub.snapshot();
    if (!snap.waiting) this.onVars(snap);
    else this.evaluateAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const d of this.detach.splice(0)) d();
    for (const g of this.groups) this.cancelTimer(g);
    await Promise.allSettled([...this.inFlight]);
  }

  view(): WakeView {
    const state = this.deps.journal.state.wake ?? {};
    return {
      groups: this.groups.map((g) => ({
        ...structuredClone(state[g.spec.name] ?? {}),
        group: g.spec.name,
        afterOnlineMs: g.spec.wake.afterOnlineMs,
        minCharge: g.spec.wake.minCharge,
        wol: g.spec.wake.wol,
        command: g.spec.wake.command !== null,
        waitingFor: state[g.spec.name]?.phase === 'pending' ? g.waitingFor : null,
      })),
    };
  }

  private onVars(snap: HubSnapshot): void {
    const tokens = parseStatus(snap.vars['ups.status']);
    if (tokens.has('OB')) this.mainsBackAt = null;
    else if (tokens.has('OL')) this.mainsBackAt ??= this.deps.clock.now();
    this.evaluateAll();
  }

  private evaluateAll(): void {
    if (this.stopped) return;
    for (const g of this.groups) {
      try {
        this.evaluate(g);
      } catch (err) {
        this.log.error({ err, group: g.spec.name }, 'wake: evaluation failed');
      }
    }
  }

  /** Mains are back (fresh data, OL without OB). */
  private online(): { ok: boolean; charge: number | null; fresh: boolean } {
    const snap = this.deps.hub.snapshot();
    const tokens = parseStatus(snap.vars['ups.status']);
    const fresh = !snap.waiting && !snap.stale;
    return {
      ok: fresh && tokens.has('OL') && !tokens.has('OB'),
      charge: numberVar(snap.vars, 'battery.charge') ?? null,
      fresh,
    };
  }

  private evaluate(g: Watched): void {
    const before = g.waitingFor;
    g.waitingFor = null;
    const keepTimer = this.decide(g, before);
    if (!keepTimer) this.cancelTimer(g);
  }

  /** Checks every condition and acts; returns whether a timer armed for the due time may stay. */
  private decide(g: Watched, before: Watched['waitingFor']): boolean {
    const { clock, journal, policy, sequencer } = this.deps;
    const name = g.spec.name;
    const seq = sequencer.view();
    const early = seq.early.find((e) => e.group === name);
    // only a real early run that ended (its hosts left); one still going down is waited for
    if (!early || early.runId === null || early.drill || early.state !== 'done') return false;
    const rec = journal.state.wake?.[name];
    const mine = rec?.runId === early.runId ? rec : undefined;
    if (mine && (mine.phase === 'sent' || mine.phase === 'skipped')) return false;
    // the fleet is going down (or went down): killpower's power cycle wakes everyone, never us
    if (policy.view().critical || seq.state === 'running' || seq.state === 'final') return false;
    const now = clock.now();
    const mains = this.online();
    if (!mains.ok) {
      if (mine?.phase === 'pending') g.waitingFor = mains.fresh ? 'mains' : 'source';
      return false;
    }
    let pending = mine?.phase === 'pending' ? mine : undefined;
    if (!pending) {
      const onlineSince = this.mainsBackAt ?? now;
      const dueAt = Math.max(now, onlineSince + g.spec.wake.afterOnlineMs);
      journal.write({ kind: 'wake-pending', ts: now, group: name, runId: early.runId, onlineSince, dueAt });
      this.log.info(
        { group: name, runId: early.runId, onlineSince, dueAt },
        'mains back after an early group left: its hosts are woken when mains have been back long enough',
      );
      pending = journal.state.wake?.[name];
      if (pending?.phase !== 'pending') return false;
    }
    const dueAt = pending.dueAt ?? now;
    if (now < dueAt) {
      g.waitingFor = 'mains';
      g.timer ??= clock.setTimer(dueAt - now, () => this.onTimer(g));
      return true;
    }
    const { minCharge } = g.spec.wake;
    if (minCharge > 0 && !(mains.charge !== null && mains.charge >= minCharge)) {
      if (before !== 'charge')
        this.log.info(
          { group: name, charge: mains.charge, minCharge },
          'wake due but battery.charge below its minimum: waiting for the battery to charge',
        );
      g.waitingFor = 'charge';
      return false;
    }
    this.wake(g, early);
    return false;
  }

  private onTimer(g: Watched): void {
    g.timer = null;
    // every condition is checked again: the power may have failed in the meantime
    try {
      this.evaluate(g);
    } catch (err) {
      this.log.error({ err, group: g.spec.name }, 'wake: evaluation failed');
    }
  }

  private cancelTimer(g: Watched): void {
    g.timer?.cancel();
    g.timer = null;
  }

  /** The decision: journaled (fsync) before any packet or command leaves; the group can then be ordered again. */
  private wake(g: Watched, early: EarlyGroupView): void {
    const { clock, journal, registry, sequencer, policy } = this.deps;
    const spec = g.spec.wake;
    const name = g.spec.name;
    const hosts: Array<Omit<WakeHost, 'results' | 'backAt'>> = early.members.filter(left).map((m) => {
      const info = registry.get(m.id);
      const mac = spec.macs[m.id] ?? info?.mac ?? null;
      const address = info?.address ? hostOf(info.address) : null;
      if (registry.isConnected(m.id))
        return { id: m.id, mac, address, via: [], skipped: 'connected again before the wake' };
      const via: WakeVia[] = [
        ...(spec.wol && mac ? (['wol'] as const) : []),
        ...(spec.command ? (['command'] as const) : []),
      ];
      return {
        id: m.id,
        mac,
        address,
        via,
        skipped: via.length === 0 ? 'no MAC known (configure wake.macs) and no wake command' : null,
      };
    });
    const runId = early.runId!;
    journal.write({ kind: 'wake', ts: clock.now(), group: name, runId, hosts });
    // its hosts are coming back: a later shutdown orders them again (recovery folds the same from `wake`)
    sequencer.forgetEarly(name);
    policy.rearmEarly(name);
    this.log.warn(
      {
        group: name,
        runId,
        woken: hosts.filter((h) => h.via.length > 0).map((h) => h.id),
        skipped: hosts.filter((h) => h.skipped).map((h) => ({ id: h.id, why: h.skipped })),
      },
      'mains back before the fleet sequence: waking the early group',
    );
    for (const h of hosts) {
      if (h.via.includes('wol') && h.mac && spec.wol)
        this.track(this.sendWol(name, runId, h.id, h.mac, spec.wol));
      if (h.via.includes('command') && spec.command)
        this.track(this.runWakeCommand(name, runId, h, spec.command, spec.timeoutMs));
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private result(
    group: string,
    runId: string,
    memberId: string,
    via: WakeVia,
    ok: boolean,
    detail: string,
  ): void {
    if (this.stopped) {
      this.log.info({ group, memberId, via, ok, detail }, 'wake result after stop: not journaled');
      return;
    }
    this.deps.journal.write({
      kind: 'wake-result',
      ts: this.deps.clock.now(),
      group,
      runId,
      memberId,
      via,
      ok,
      detail,
    });
  }

  private async sendWol(
    group: string,
    runId: string,
    memberId: string,
    mac: string,
    target: WolTarget,
  ): Promise<void> {
    const send = this.deps.sendWol ?? sendMagicPacket;
    try {
      await send(mac, target);
      this.log.info({ group, memberId, mac, target }, 'Wake-on-LAN magic packet sent');
      this.result(group, runId, memberId, 'wol', true, `magic packet to ${target.address}:${target.port}`);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.log.error(
        { err, code: isUpsfleetError(err) ? err.code : 'WAKE_FAILED', group, memberId, mac },
        'Wake-on-LAN magic packet not sent',
      );
      this.result(group, runId, memberId, 'wol', false, detail);
    }
  }

  private async runWakeCommand(
    group: string,
    runId: string,
    host: Omit<WakeHost, 'results' | 'backAt'>,
    command: string | string[],
    timeoutMs: number,
  ): Promise<void> {
    const run = this.deps.runCommand ?? runCommandImpl;
    const r = await run(command, {
      timeoutMs,
      clock: this.deps.clock,
      env: {
        UPSFLEET_WAKE_AGENT: host.id,
        UPSFLEET_WAKE_MAC: host.mac ?? '',
        UPSFLEET_WAKE_GROUP: group,
        UPSFLEET_WAKE_ADDRESS: host.address ?? '',
        UPSFLEET_WAKE_RUN_ID: runId,
      },
    });
    const ok = commandSucceeded(r);
    const detail = describeResult(r);
    if (ok) this.log.info({ group, memberId: host.id, durationMs: r.durationMs }, 'wake command done');
    else
      this.log.error(
        { code: 'WAKE_FAILED', group, memberId: host.id, result: detail, stderr: r.stderr.slice(0, 512) },
        'wake command failed',
      );
    this.result(group, runId, host.id, 'command', ok, detail);
  }

  /** A woken host that connects again is back: journaled once. */
  private onConnected(id: string): void {
    if (this.stopped) return;
    const state = this.deps.journal.state.wake ?? {};
    for (const w of Object.values(state)) {
      if (w.phase !== 'sent') continue;
      const host = w.hosts.find((h) => h.id === id);
      if (!host || host.backAt !== null || host.via.length === 0) continue;
      this.deps.journal.write({
        kind: 'wake-back',
        ts: this.deps.clock.now(),
        group: w.group,
        runId: w.runId,
        memberId: id,
      });
      this.log.info({ group: w.group, memberId: id }, 'woken host is back');
    }
  }
}

/** A member that left with its early group: it got its order (an offline one never did). */
function left(m: MemberView): boolean {
  return m.orderedAt !== null || m.state === 'down';
}

/** The host part of the address a connection came from (`192.0.2.11:41234`, `[2001:db8::1]:41234`). */
function hostOf(address: string): string {
  const v6 = /^\[(.*)\]:\d+$/.exec(address);
  if (v6) return v6[1]!;
  const v4 = /^([^:]+):\d+$/.exec(address);
  return v4 ? v4[1]! : address;
}
