/**
 * One SSH target as a member of the fleet. It is "connected" while its periodic probe (TCP connect, SSH
 * handshake with the host key checked against the pin, login; nothing run) succeeds. Its order runs the
 * configured command on a fresh login and answers the sequencer as an agent would: ack when the server
 * accepted the exec request, going-down when the command was accepted (exit 0, or the session dropped
 * without an exit status as a host powering off drops it), and its connection "closed by the member" only
 * once its SSH port refused or ignored TCP connects for `unreachableFor` without a break: that confirms it
 * down. A command that fails, or a host that keeps answering, is never confirmed: the step's deadline cuts
 * it short, and the target's `problem` says why. In a drill it runs the drill command instead, measured,
 * and reports a dry-run going-down. Orders are idempotent by order id: a command that ran is never run again
 * for the same order (only one that never reached the host is retried).
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { SshTargetSpec } from '../../shared/config/ssh-target-settings.js';
import { isUpsfleetError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { OrderMsg } from '../../shared/protocol/messages.js';
import type { FleetRegistry, MemberChannel } from '../fleet/registry.js';
import type { ExecResult, SshConnection, SshConnector } from './ssh-client.js';
import { type ProbeResult, UnreachableWatch, type UnreachableWatchView } from './unreachable-watch.js';

/** How the target answers its order: the same calls the agent server makes for an agent's messages. */
export interface SshFeedback {
  ack(id: string, orderId: string): void;
  progress(
    id: string,
    msg: {
      orderId: string;
      hook: number;
      of: number;
      name: string;
      status: 'started' | 'ok' | 'failed';
      durationMs?: number;
    },
  ): void;
  goingDown(id: string, orderId: string, dryRun: boolean, hookFailures: number): void;
  /** Confirmed unreachable while not "connected" to this process (a watch resumed after a restart). */
  gone(id: string, orderId: string, detail: string): void;
  drillReport(
    id: string,
    orderId: string,
    hooks: Array<{ name: string; status: string; durationMs: number }>,
  ): void;
}

export interface SshTargetDeps {
  clock: Clock;
  logger: Logger;
  registry: FleetRegistry;
  connector: SshConnector;
  feedback: SshFeedback;
  /** TCP connect to the SSH port (the confirmation rule's probe). */
  tcpProbe: (host: string, port: number, timeoutMs: number) => Promise<ProbeResult>;
  /** Between TCP probes while confirming (default 1 s). */
  watchIntervalMs?: number;
}

export type OrderPhase =
  /** Logging in to run the command. */
  | 'connecting'
  /** The command runs. */
  | 'running'
  /** Accepted: waiting for the host to stop answering. */
  | 'confirming'
  | 'confirmed'
  /** The command failed (exit status, refused): never run again for this order. */
  | 'failed'
  /** The login failed before the command reached the host: retried when the target is reachable again. */
  | 'unsent'
  /** The drill command succeeded. */
  | 'drilled'
  /** The step's deadline passed while confirming. */
  | 'deadline';

export interface SshTargetView {
  id: string;
  group: string;
  address: string;
  user: string;
  /** The pinned host key's fingerprint. */
  hostKey: string;
  command: string;
  drillCommand: string;
  unreachableForMs: number;
  lastProbe: {
    at: number;
    ok: boolean;
    durationMs: number;
    code: string | null;
    message: string | null;
  } | null;
  order: {
    orderId: string;
    drill: boolean;
    phase: OrderPhase;
    startedAt: number;
    acceptedAt: number | null;
    result: {
      code: number | null;
      signal: string | null;
      dropped: boolean;
      durationMs: number;
      stderr: string;
    } | null;
    watch: UnreachableWatchView | null;
  } | null;
  problem: string | null;
}

const PROGRESS_NAME_MAX = 120;

function clip(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function hms(ts: number): string {
  return new Date(ts).toISOString().slice(11, 19);
}

export class SshTarget {
  private readonly log: Logger;
  private readonly channel: MemberChannel;
  private probeTimer: TimerHandle | null = null;
  private probing = false;
  private stopped = true;
  /** While a step waits for it and it is offline: probe often, until this epoch ms. */
  private eagerUntil = 0;
  private lastProbe: SshTargetView['lastProbe'] = null;
  private order: (NonNullable<SshTargetView['order']> & { deadline: number }) | null = null;
  private watch: UnreachableWatch | null = null;
  private deadlineTimer: TimerHandle | null = null;
  private problem: string | null = null;
  private connected = false;

  constructor(
    readonly spec: SshTargetSpec,
    private readonly deps: SshTargetDeps,
  ) {
    this.log = deps.logger.child({ target: spec.id });
    this.channel = { sendOrder: (order) => this.onOrder(order) };
  }

  get address(): string {
    const host = this.spec.host.includes(':') ? `[${this.spec.host}]` : this.spec.host;
    return `${this.spec.user}@${host}:${this.spec.port}`;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.deps.registry.declare(this.spec.id, 'ssh', this.spec.group);
    void this.probe();
  }

  stop(): void {
    this.stopped = true;
    this.probeTimer?.cancel();
    this.probeTimer = null;
    this.watch?.stop();
    this.deadlineTimer?.cancel();
  }

  /**
   * Its step waits for it while it is not connected: probe every few seconds until `until` (the step's
   * deadline), so that it is ordered as soon as it answers.
   */
  wanted(until: number): void {
    this.eagerUntil = Math.max(this.eagerUntil, until);
    if (!this.probing) this.schedule(0);
  }

  /**
   * A restarted master's journal says this target accepted `orderId` before the restart: the command is not
   * run again (a command that reached the host never runs twice for one order); the confirmation watch
   * resumes instead, until the step's deadline. Called before start(), so no probe counts it connected first.
   */
  resumeConfirming(orderId: string, acceptedAt: number, deadline: number): void {
    const order = {
      orderId,
      drill: false,
      phase: 'confirming' as const,
      startedAt: acceptedAt,
      acceptedAt,
      result: null,
      watch: null,
      deadline,
    };
    this.order = order;
    this.log.warn(
      { orderId, acceptedAt },
      'SSH target accepted its command before the master restarted: waiting for it to stop answering',
    );
    this.confirm(order);
  }

  /** Probe now (the sequence starts: later steps see a fresh state). */
  refresh(): void {
    if (!this.probing && !this.busy) this.schedule(0);
  }

  view(): SshTargetView {
    return {
      id: this.spec.id,
      group: this.spec.group,
      address: this.address,
      user: this.spec.user,
      hostKey: this.spec.hostKey.fingerprint,
      command: this.spec.command,
      drillCommand: this.spec.drillCommand,
      unreachableForMs: this.spec.unreachableForMs,
      lastProbe: this.lastProbe ? { ...this.lastProbe } : null,
      order: this.order
        ? {
            orderId: this.order.orderId,
            drill: this.order.drill,
            phase: this.order.phase,
            startedAt: this.order.startedAt,
            acceptedAt: this.order.acceptedAt,
            result: this.order.result ? { ...this.order.result } : null,
            watch: this.watch?.view() ?? null,
          }
        : null,
      problem: this.problem,
    };
  }

  /** An order is being carried out: the periodic probe waits (it would only disturb the count). */
  private get busy(): boolean {
    const p = this.order?.phase;
    return p === 'connecting' || p === 'running' || p === 'confirming';
  }

  private schedule(ms: number): void {
    this.probeTimer?.cancel();
    if (this.stopped) return;
    this.probeTimer = this.deps.clock.setTimer(ms, () => void this.probe());
  }

  private nextProbeIn(): number {
    const now = this.deps.clock.now();
    if (!this.connected && now < this.eagerUntil) return Math.min(2_000, this.spec.probeIntervalMs);
    return this.spec.probeIntervalMs;
  }

  private async probe(): Promise<void> {
    if (this.stopped || this.probing) return;
    if (this.busy) {
      this.schedule(this.nextProbeIn());
      return;
    }
    this.probing = true;
    const at = this.deps.clock.now();
    let conn: SshConnection | null = null;
    try {
      conn = await this.deps.connector(this.spec);
      this.lastProbe = { at, ok: true, durationMs: this.deps.clock.now() - at, code: null, message: null };
      this.reachable();
    } catch (err) {
      const code = isUpsfleetError(err) ? err.code : 'SSH_UNREACHABLE';
      const message = (err as Error).message;
      this.lastProbe = { at, ok: false, durationMs: this.deps.clock.now() - at, code, message };
      if (this.connected || this.problem !== `${code}: ${message}`)
        this.log.warn({ code, err: message }, 'SSH target probe failed');
      this.unreachable(`${code}: ${message}`);
    } finally {
      conn?.close();
      this.probing = false;
      this.schedule(this.nextProbeIn());
    }
  }

  private setProblem(problem: string | null): void {
    this.problem = problem;
    this.deps.registry.setProblem(this.spec.id, problem);
  }

  private reachable(): void {
    this.deps.registry.touch(this.spec.id, this.deps.clock.now());
    // a failed command or a host that keeps answering stays the reason until the next order
    if (!(this.order?.phase === 'failed' || this.order?.phase === 'deadline')) this.setProblem(null);
    if (this.connected) return;
    this.connected = true;
    this.log.info({ address: this.address }, 'SSH target reachable: login with the pinned host key works');
    this.deps.registry.connect(
      {
        id: this.spec.id,
        kind: 'ssh',
        group: this.spec.group,
        version: null,
        dryRun: false,
        address: this.address,
        lastSeen: this.deps.clock.now(),
      },
      this.channel,
    );
  }

  private unreachable(problem: string, detail?: string): void {
    this.setProblem(problem);
    if (!this.connected) return;
    this.connected = false;
    this.deps.registry.disconnect(this.spec.id, this.channel, detail ? { detail } : {});
  }

  private onOrder(order: OrderMsg): void {
    const known = this.order;
    // idempotent by id: a command that reached the host never runs twice for one order
    if (known?.orderId === order.orderId && known.phase !== 'unsent') return;
    this.watch?.stop();
    this.watch = null;
    this.deadlineTimer?.cancel();
    this.order = {
      orderId: order.orderId,
      drill: order.drill,
      phase: 'connecting',
      startedAt: this.deps.clock.now(),
      acceptedAt: null,
      result: null,
      watch: null,
      deadline: order.deadline,
    };
    this.setProblem(null);
    void this.carryOut(this.order);
  }

  private async carryOut(order: NonNullable<SshTarget['order']>): Promise<void> {
    const { feedback, clock } = this.deps;
    const id = this.spec.id;
    const command = order.drill ? this.spec.drillCommand : this.spec.command;
    const name = clip(`${order.drill ? 'drill: ' : ''}${command}`, PROGRESS_NAME_MAX);
    this.log.warn({ orderId: order.orderId, drill: order.drill, command }, 'SSH target ordered: logging in');
    let conn: SshConnection;
    try {
      conn = await this.deps.connector(this.spec);
    } catch (err) {
      if (this.order !== order) return;
      const code = isUpsfleetError(err) ? err.code : 'SSH_UNREACHABLE';
      order.phase = 'unsent';
      this.log.warn(
        { orderId: order.orderId, code, err: (err as Error).message },
        'SSH target: order not delivered',
      );
      this.unreachable(`${code}: ${(err as Error).message}`);
      return;
    }
    if (this.order !== order) {
      conn.close();
      return;
    }
    order.phase = 'running';
    let result: ExecResult;
    try {
      result = await conn.exec(command, () => {
        feedback.ack(id, order.orderId);
        feedback.progress(id, { orderId: order.orderId, hook: 1, of: 1, name, status: 'started' });
      });
    } finally {
      conn.close();
    }
    if (this.order !== order) return;
    order.result = {
      code: result.code,
      signal: result.signal,
      dropped: result.dropped,
      durationMs: result.durationMs,
      stderr: clip(result.stderr, 400),
    };
    const exitedOk = result.code === 0;
    // a poweroff often takes sshd down before the exit status is sent: accepted, if the host then goes away
    const vanished = !order.drill && result.code === null && (result.dropped || result.signal !== null);
    const status = exitedOk || vanished ? 'ok' : 'failed';
    feedback.progress(id, {
      orderId: order.orderId,
      hook: 1,
      of: 1,
      name,
      status,
      durationMs: result.durationMs,
    });
    if (order.drill) {
      feedback.drillReport(id, order.orderId, [{ name, status, durationMs: result.durationMs }]);
      if (exitedOk) {
        order.phase = 'drilled';
        order.acceptedAt = clock.now();
        this.log.info(
          { orderId: order.orderId, durationMs: result.durationMs },
          'SSH target drill command done',
        );
        feedback.goingDown(id, order.orderId, true, 0);
        return;
      }
    }
    if (status === 'failed') {
      order.phase = 'failed';
      const why = describeFailure(command, result);
      this.log.error({ orderId: order.orderId, ...order.result }, `SSH target: ${why}`);
      this.setProblem(why);
      return;
    }
    order.phase = 'confirming';
    order.acceptedAt = clock.now();
    this.log.warn(
      { orderId: order.orderId, code: result.code, dropped: result.dropped, signal: result.signal },
      'SSH target accepted its command: waiting for it to stop answering',
    );
    feedback.goingDown(id, order.orderId, false, 0);
    this.confirm(order);
  }

  private confirm(order: NonNullable<SshTarget['order']>): void {
    const { clock } = this.deps;
    const acceptedAt = order.acceptedAt ?? clock.now();
    const port = this.spec.port;
    const interval = this.deps.watchIntervalMs ?? 1000;
    this.setProblem(
      `command accepted at ${hms(acceptedAt)}; port ${port} not yet unreachable for ${this.spec.unreachableForMs / 1000}s`,
    );
    const watch = new UnreachableWatch({
      clock,
      intervalMs: interval,
      unreachableForMs: this.spec.unreachableForMs,
      probe: () => this.deps.tcpProbe(this.spec.host, port, Math.min(interval, this.spec.connectTimeoutMs)),
      onAnswered: (at) => {
        if (this.order === order)
          this.setProblem(
            `command accepted at ${hms(acceptedAt)}, but port ${port} still answers (last at ${hms(at)})`,
          );
      },
      onConfirmed: (since, at) => {
        if (this.order !== order) return;
        order.phase = 'confirmed';
        this.deadlineTimer?.cancel();
        this.log.warn({ orderId: order.orderId, since, at }, 'SSH target confirmed down: unreachable');
        const detail = `port ${port} unreachable for ${Math.round((at - since) / 100) / 10}s`;
        const wasConnected = this.connected;
        this.unreachable(`down: port ${port} unreachable since ${hms(since)}`, detail);
        // its close confirms it; one this process never saw connected (a resumed watch) is confirmed directly
        if (!wasConnected) this.deps.feedback.gone(this.spec.id, order.orderId, detail);
      },
    });
    this.watch = watch;
    watch.start();
    // the step stops waiting at its deadline: so does the watch (the deadline's why stays the problem)
    this.deadlineTimer = clock.setTimer(Math.max(0, order.deadline - clock.now()), () => {
      if (this.order !== order || order.phase !== 'confirming') return;
      watch.stop();
      order.phase = 'deadline';
      this.log.error(
        { orderId: order.orderId, watch: watch.view() },
        'SSH target still reachable at the deadline',
      );
    });
  }
}

function describeFailure(command: string, r: ExecResult): string {
  const how =
    r.code !== null
      ? `exited ${r.code}`
      : r.signal !== null
        ? `was killed by ${r.signal}`
        : r.dropped
          ? 'lost its session before an exit status'
          : 'was refused by the server';
  const err = clip(r.stderr, 300);
  return `command \`${clip(command, 120)}\` ${how}${err ? `: ${err}` : ''}`;
}
