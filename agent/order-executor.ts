/**
 * Carries out shutdown orders: `ack` at once, the hooks with `progress`, `going-down`, then the
 * power-off (or in a drill a `drill-report` and no power-off). Idempotent by order id: an order the
 * master re-sends (typically after a reconnect) replays ack, the latest progress and going-down
 * instead of running the hooks again. A second order arriving while a shutdown is under way joins
 * it; so does an order arriving after the agent started to shut down on its own.
 */
import type { Clock } from '../shared/clock.js';
import type { HookSpec } from '../shared/config/resolved.js';
import { type HookRunSummary, runHooks } from '../shared/exec/hook-runner.js';
import { type PowerOffResult, powerOff } from '../shared/exec/power-off.js';
import type { Command } from '../shared/exec/run-command.js';
import type { GuestReport } from '../shared/guests/stop-guests.js';
import type { Logger } from '../shared/logger.js';
import type { DrillReportMsg, GuestNewsT, OrderMsg, ProgressMsg } from '../shared/protocol/messages.js';
import type { AgentBody } from './master-connection.js';

export interface OrderExecutorOptions {
  agentId: string;
  hooks: readonly HookSpec[];
  shutdown: { command: Command; dryRun: boolean; marker: string };
  clock: Clock;
  logger: Logger;
  /** Sends to the master; a message is simply lost while the link is down (the master re-sends the order). */
  send: (body: AgentBody) => void;
  /** The real power-off command has started: close the link so the master sees it at once. */
  onPowerOffStarted?: () => void;
  /** Where guest presets record what they stopped, for their restart after power returns. */
  stateDir?: string;
  /** A real shutdown that only wrote its marker (dry-run) is done: the host is still up. */
  onDryRunDone?: () => void;
  /** Seams for tests. */
  runHooks?: typeof runHooks;
  powerOff?: typeof powerOff;
}

type ProgressFields = Omit<ProgressMsg, 'v' | 'id' | 'ts' | 'type' | 'orderId'>;
type DrillHook = DrillReportMsg['hooks'][number];

/** One shutdown (real or drill) and everything needed to replay its messages. */
export interface ShutdownRun {
  /** Orders served by this run (empty for a local-safety shutdown until the master re-appears). */
  orderIds: Set<string>;
  drill: boolean;
  reason: string;
  /** When the first order of this run arrived (epoch ms); null for a local-safety shutdown. */
  orderReceivedAt: number | null;
  phase: 'queued' | 'hooks' | 'powering-off' | 'done';
  lastProgress: ProgressFields | null;
  /** Guest presets' per-guest progress, replayed with the rest to a master that re-sends the order. */
  guestNews: ProgressFields[];
  goingDown: { dryRun: boolean; hookFailures: number } | null;
  drillHooks: DrillHook[] | null;
  hooks: HookRunSummary | null;
  powerOff: PowerOffResult | null;
  finished: Promise<void>;
}

const MAX_DRILL_HOOKS = 64;
/** Guests kept for replay and put in a drill report, all hooks together (the report stays far below 64 KiB). */
const MAX_GUEST_NEWS = 256;

export class OrderExecutor {
  private readonly runsByOrder = new Map<string, ShutdownRun>();
  /** The real (non-drill) shutdown, once one started: there is only ever one. */
  private realRun: ShutdownRun | null = null;
  /** Runs execute one after another (a drill's hooks never overlap a real shutdown's). */
  private queue: Promise<void> = Promise.resolve();
  private readonly runHooks: typeof runHooks;
  private readonly powerOff: typeof powerOff;

  constructor(private readonly opts: OrderExecutorOptions) {
    this.runHooks = opts.runHooks ?? runHooks;
    this.powerOff = opts.powerOff ?? powerOff;
  }

  /** The run serving this order id, if any. */
  runFor(orderId: string): ShutdownRun | undefined {
    return this.runsByOrder.get(orderId);
  }

  /** A real shutdown is under way or done (a finished dry-run does not count). */
  get shuttingDown(): boolean {
    return this.activeRealRun() !== null;
  }

  /** Resolves when every queued run has finished (tests, graceful stop). */
  idle(): Promise<void> {
    return this.queue;
  }

  handleOrder(order: OrderMsg): void {
    const log = this.opts.logger.child({ orderId: order.orderId });
    const known = this.runsByOrder.get(order.orderId);
    if (known) {
      log.info(
        { phase: known.phase },
        're-sent order: replaying ack and latest state, hooks are not run again',
      );
      this.replay(known, order.orderId);
      this.retryFailedPowerOff(known);
      return;
    }

    this.opts.send({ type: 'ack', orderId: order.orderId });
    // the master's deadline on our clock: from its duration when given (a skewed clock cannot shift it)
    const now = this.opts.clock.now();
    const deadline = order.deadlineInMs === undefined ? order.deadline : now + order.deadlineInMs;
    const late = order.deadlineInMs === undefined ? now > order.deadline : order.deadlineInMs === 0;
    log.warn(
      { reason: order.reason, drill: order.drill, step: order.step, deadline, late },
      order.drill ? 'drill order received' : 'shutdown order received',
    );

    const real = this.activeRealRun();
    if (real && order.drill) {
      log.warn({ reason: real.reason }, 'drill order ignored: a real shutdown is under way');
      return;
    }
    if (real) {
      // one machine goes down once: join the shutdown already under way
      log.info({ reason: real.reason }, 'a shutdown is already under way; this order joins it');
      real.orderIds.add(order.orderId);
      this.runsByOrder.set(order.orderId, real);
      this.replay(real, order.orderId, { ack: false });
      this.retryFailedPowerOff(real);
      return;
    }
    this.enqueue(order.drill, order.reason, order.orderId);
  }

  /** Shut down without an order (local safety). A later order from the master joins this run. */
  shutdownLocally(reason: string): ShutdownRun {
    return this.activeRealRun() ?? this.enqueue(false, reason, null);
  }

  /**
   * The real shutdown this machine is in, if any. A finished dry-run does not count: the machine is
   * still up, so a later order (a new power event) runs again.
   */
  private activeRealRun(): ShutdownRun | null {
    const real = this.realRun;
    if (!real) return null;
    if (real.phase === 'done' && real.powerOff?.dryRun) return null;
    return real;
  }

  private enqueue(drill: boolean, reason: string, orderId: string | null): ShutdownRun {
    const run: ShutdownRun = {
      orderIds: new Set(orderId === null ? [] : [orderId]),
      drill,
      reason,
      orderReceivedAt: orderId === null ? null : this.opts.clock.now(),
      phase: 'queued',
      lastProgress: null,
      guestNews: [],
      goingDown: null,
      drillHooks: null,
      hooks: null,
      powerOff: null,
      finished: Promise.resolve(),
    };
    if (orderId !== null) this.runsByOrder.set(orderId, run);
    if (!drill) this.realRun = run;
    run.finished = this.queue.then(() =>
      this.execute(run).catch((err: unknown) => {
        this.opts.logger.error({ err }, 'shutdown run failed unexpectedly');
      }),
    );
    this.queue = run.finished;
    return run;
  }

  private async execute(run: ShutdownRun): Promise<void> {
    const { logger, hooks, shutdown } = this.opts;
    const firstOrder = () => [...run.orderIds][0] ?? null;
    const log = logger.child({ orderId: firstOrder(), drill: run.drill });
    run.phase = 'hooks';
    log.info(
      { hooks: hooks.length, reason: run.reason },
      run.drill ? 'drill: running hooks' : 'running shutdown hooks',
    );
    run.hooks = await this.runHooks(hooks, {
      logger: log,
      drill: run.drill,
      clock: this.opts.clock,
      env: {
        UPSFLEET_ORDER_ID: firstOrder() ?? '',
        UPSFLEET_REASON: run.reason,
        UPSFLEET_DRILL: run.drill ? '1' : '0',
        UPSFLEET_DRY_RUN: shutdown.dryRun || run.drill ? '1' : '0',
      },
      ...(this.opts.stateDir !== undefined ? { stateDir: this.opts.stateDir } : {}),
      onProgress: (p) => {
        if (p.guest) {
          const news: ProgressFields = {
            hook: p.index,
            of: p.of,
            name: p.name.slice(0, 128),
            status: p.status,
            guest: guestNews(p.guest),
          };
          if (run.guestNews.length < MAX_GUEST_NEWS) run.guestNews.push(news);
          for (const orderId of run.orderIds) this.opts.send({ type: 'progress', orderId, ...news });
          return;
        }
        run.lastProgress = {
          hook: p.index,
          of: p.of,
          name: p.name.slice(0, 128),
          status: p.status,
          ...(p.durationMs !== undefined ? { durationMs: Math.round(p.durationMs) } : {}),
        };
        for (const orderId of run.orderIds)
          this.opts.send({ type: 'progress', orderId, ...run.lastProgress });
      },
    });

    const dryRun = shutdown.dryRun || run.drill;
    run.goingDown = { dryRun, hookFailures: run.hooks.failures };
    log.warn({ hookFailures: run.hooks.failures, dryRun }, 'hooks done: going down');
    for (const orderId of run.orderIds) this.opts.send({ type: 'going-down', orderId, ...run.goingDown });

    if (run.drill) {
      let guestRoom = MAX_GUEST_NEWS;
      run.drillHooks = run.hooks.outcomes.slice(0, MAX_DRILL_HOOKS).map((o) => {
        const guests = (o.guests ?? []).slice(0, Math.min(64, guestRoom)).map(guestNews);
        guestRoom -= guests.length;
        return {
          name: o.name.slice(0, 128),
          status: o.status,
          durationMs: Math.round(o.durationMs),
          ...(o.guests ? { guests } : {}),
        };
      });
      for (const orderId of run.orderIds) this.sendDrillReport(run, orderId);
      run.phase = 'done';
      log.info('drill: report sent; no power-off in a drill');
      return;
    }

    run.phase = 'powering-off';
    run.powerOff = await this.doPowerOff(run);
    run.phase = 'done';
    if (run.powerOff.dryRun) this.opts.onDryRunDone?.();
  }

  private doPowerOff(run: ShutdownRun): Promise<PowerOffResult> {
    const { shutdown } = this.opts;
    return this.powerOff({
      command: shutdown.command,
      dryRun: shutdown.dryRun,
      marker: shutdown.marker,
      logger: this.opts.logger,
      reason: run.reason,
      orderId: [...run.orderIds][0] ?? null,
      orderReceivedAt: run.orderReceivedAt,
      id: this.opts.agentId,
      clock: this.opts.clock,
      ...(shutdown.dryRun ? {} : { onStarted: () => this.opts.onPowerOffStarted?.() }),
    });
  }

  /** A real power-off command that failed is tried again when the master re-sends the order. */
  private retryFailedPowerOff(run: ShutdownRun): void {
    const result = run.powerOff;
    if (run.phase !== 'done' || !result || result.ok || result.dryRun) return;
    this.opts.logger.warn('the previous power-off command failed; trying again');
    run.phase = 'powering-off';
    run.finished = this.queue.then(async () => {
      run.powerOff = await this.doPowerOff(run);
      run.phase = 'done';
    });
    this.queue = run.finished;
  }

  private replay(run: ShutdownRun, orderId: string, what: { ack: boolean } = { ack: true }): void {
    if (what.ack) this.opts.send({ type: 'ack', orderId });
    for (const news of run.guestNews) this.opts.send({ type: 'progress', orderId, ...news });
    if (run.lastProgress) this.opts.send({ type: 'progress', orderId, ...run.lastProgress });
    if (run.goingDown) this.opts.send({ type: 'going-down', orderId, ...run.goingDown });
    if (run.drillHooks) this.sendDrillReport(run, orderId);
  }

  private sendDrillReport(run: ShutdownRun, orderId: string): void {
    this.opts.send({ type: 'drill-report', orderId, hooks: run.drillHooks ?? [] });
  }
}

/** A guest's news as the protocol carries it (bounded strings, whole milliseconds). */
function guestNews(g: GuestReport): GuestNewsT {
  return {
    name: g.name.slice(0, 128),
    kind: g.kind.slice(0, 16),
    state: g.state,
    ...(g.durationMs !== undefined ? { durationMs: Math.max(0, Math.round(g.durationMs)) } : {}),
    ...(g.error !== undefined ? { error: g.error.slice(0, 300) } : {}),
  };
}
