/**
 * The agent: one class wiring the master link, the local safety policy, the order executor and the
 * notify command. The constructor only stores; start() connects; stop() closes gracefully (1000).
 */
import { hostname as osHostname } from 'node:os';
import { type Clock, systemClock } from '../shared/clock.js';
import type { AgentSettings } from '../shared/config/agent-settings.js';
import type { runHooks } from '../shared/exec/hook-runner.js';
import { type NotifyEvent, runNotify } from '../shared/exec/notify.js';
import type { powerOff } from '../shared/exec/power-off.js';
import { sendWebhooks } from '../shared/exec/webhook.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import type { MasterMsg, StateMsg, WelcomeMsg } from '../shared/protocol/messages.js';
import { Discovery } from './discovery.js';
import { LocalSafety } from './local-safety.js';
import { LostMasterDelayStore } from './lost-master-delay-store.js';
import { type DisconnectInfo, MasterConnection, type WebSocketImpl } from './master-connection.js';
import { OrderExecutor } from './order-executor.js';
import { AGENT_VERSION } from './version.js';

export interface AgentOptions {
  clock?: Clock;
  logger?: Logger;
  /** WebSocket implementation (default: ws). */
  WebSocket?: WebSocketImpl;
  /** Backoff jitter source. */
  random?: () => number;
  /** Reported in hello; default os.hostname(). */
  hostname?: string;
  /** Reported in hello; default the package version. */
  version?: string;
  /** multicast-dns options for discovery (tests). */
  mdns?: Record<string, unknown>;
  /** Seams for tests. */
  runHooks?: typeof runHooks;
  powerOff?: typeof powerOff;
}

/** What this agent can do, announced in hello. */
export const AGENT_CAPABILITIES = ['order', 'progress', 'drill', 'dry-run', 'notify', 'local-safety'];

export class Agent {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly connection: MasterConnection;
  /** mDNS discovery when the config says `master: { auto: true }`. */
  private readonly discovery: Discovery | null;
  private readonly safety: LocalSafety;
  /** Our place in the shutdown order, kept across restarts for the lost-master case. */
  private readonly place: LostMasterDelayStore;
  private readonly executor: OrderExecutor;
  private readonly states = new Map<string, StateMsg>();
  private readonly notifications = new Set<Promise<unknown>>();
  private _welcome: WelcomeMsg | null = null;
  private started = false;
  private stopped = false;

  constructor(
    private readonly settings: AgentSettings,
    opts: AgentOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.logger = (opts.logger ?? silentLogger()).child({ agentId: settings.id });
    this.discovery = settings.masterAuto
      ? new Discovery({
          fingerprints: settings.masterTls.fingerprints,
          logger: this.logger.child({ module: 'discovery' }),
          ...(opts.mdns ? { mdns: opts.mdns } : {}),
        })
      : null;
    this.connection = new MasterConnection({
      urls: this.discovery ? () => this.discovery?.urls() ?? [] : settings.masterUrls,
      tls: settings.masterTls,
      onPinMismatch: (url, presented) => this.discovery?.refused(url, presented),
      hello: {
        agentId: settings.id,
        group: settings.group,
        version: opts.version ?? AGENT_VERSION,
        capabilities: AGENT_CAPABILITIES,
        token: settings.token,
        dryRun: settings.shutdown.dryRun,
        hostname: (opts.hostname ?? osHostname()).slice(0, 255),
      },
      reconnect: settings.reconnect,
      clock: this.clock,
      logger: this.logger.child({ module: 'master-connection' }),
      ...(opts.WebSocket ? { WebSocket: opts.WebSocket } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      onMessage: (msg) => this.onMessage(msg),
      onConnected: () => this.safety.masterReachable(),
      onDisconnected: (info) => this.onDisconnected(info),
    });
    this.safety = new LocalSafety({
      deadtimeMs: settings.deadtimeMs,
      clock: this.clock,
      logger: this.logger.child({ module: 'local-safety' }),
      onShutdown: (reason) => this.shutdownLocally(reason),
    });
    this.place = new LostMasterDelayStore(settings.stateDir, this.logger.child({ module: 'local-safety' }));
    this.executor = new OrderExecutor({
      agentId: settings.id,
      hooks: settings.hooks,
      shutdown: settings.shutdown,
      clock: this.clock,
      logger: this.logger.child({ module: 'shutdown' }),
      send: (body) => {
        if (!this.connection.send(body))
          this.logger.debug({ type: body.type }, 'master link down: message not sent');
      },
      // the OS is going down: close the link now so the master sees it at once
      onPowerOffStarted: () => void this.connection.suspend(),
      ...(opts.runHooks ? { runHooks: opts.runHooks } : {}),
      ...(opts.powerOff ? { powerOff: opts.powerOff } : {}),
    });
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  get lastContact(): number | null {
    return this.connection.lastContact;
  }

  get invalidMessages(): number {
    return this.connection.invalidMessages;
  }

  /** Successful connections to a master since start. */
  get connects(): number {
    return this.connection.connects;
  }

  get welcome(): WelcomeMsg | null {
    return this._welcome;
  }

  /** The last `state` snapshot received, per UPS. */
  get state(): ReadonlyMap<string, StateMsg> {
    return this.states;
  }

  get orders(): OrderExecutor {
    return this.executor;
  }

  /** How long the master may be lost while on battery before we go down: deadtime + our step's delay. */
  get effectiveDeadtimeMs(): number {
    return this.safety.effectiveDeadtimeMs;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const s = this.settings;
    this.logger.info(
      {
        group: s.group,
        masters: s.masterUrls,
        dryRun: s.shutdown.dryRun,
        hooks: s.hooks.map((h) => h.name),
        deadtimeMs: s.deadtimeMs,
      },
      s.shutdown.dryRun
        ? 'agent starting (dry-run: will write a marker instead of powering off)'
        : 'agent starting',
    );
    this.restorePlace();
    this.discovery?.start();
    this.connection.start();
  }

  /** Graceful stop: close the link with 1000 and wait for running notify commands. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.safety.stop();
    this.discovery?.stop();
    await this.connection.stop();
    await Promise.allSettled([...this.notifications]);
    this.logger.info('agent stopped');
  }

  private onMessage(msg: MasterMsg): void {
    switch (msg.type) {
      case 'welcome':
        this._welcome = msg;
        this.keepPlace(msg);
        this.logger.info(
          {
            masterId: msg.masterId,
            ups: msg.ups,
            step: msg.step,
            steps: msg.steps,
            lostMasterDelayMs: this.safety.lostMasterDelayMs,
          },
          msg.step === null
            ? 'welcomed by the master (early group)'
            : `welcomed by the master (step ${msg.step} of ${msg.steps})`,
        );
        return;
      case 'state':
        this.states.set(msg.ups, msg);
        this.safety.observeStatus(msg.ups, msg.vars['ups.status']);
        return;
      case 'event':
        this.logger.info({ ups: msg.ups, event: msg.event }, msg.message || msg.event);
        this.notify({
          event: msg.event,
          ups: msg.ups,
          message: msg.message,
          vars: this.states.get(msg.ups)?.vars ?? {},
        });
        return;
      case 'order':
        this.executor.handleOrder(msg);
        return;
      case 'ping':
        return; // answered by the connection
    }
  }

  /** The place the last welcome gave us, so that a restart while the master is down keeps it. */
  private restorePlace(): void {
    const saved = this.place.load();
    if (saved === null) return;
    if (saved.group !== this.settings.group) {
      // the config moved us to another group: that step's place is not ours any more
      this.logger.info(
        { path: this.place.path, savedGroup: saved.group, group: this.settings.group },
        'saved place in the shutdown order belongs to another group: ignored',
      );
      return;
    }
    this.safety.setLostMasterDelay(saved.lostMasterDelayMs);
    this.logger.info(
      {
        path: this.place.path,
        masterId: saved.masterId,
        step: saved.step,
        steps: saved.steps,
        lostMasterDelayMs: saved.lostMasterDelayMs,
        effectiveDeadtimeMs: this.safety.effectiveDeadtimeMs,
      },
      'restored our place in the shutdown order from the last welcome',
    );
  }

  private keepPlace(msg: WelcomeMsg): void {
    // a master that predates lostMasterDelayMs orders nothing by step: plain deadtime, as it always was
    const lostMasterDelayMs = msg.lostMasterDelayMs ?? 0;
    this.safety.setLostMasterDelay(lostMasterDelayMs);
    this.place.save(
      { masterId: msg.masterId, group: msg.group, step: msg.step, steps: msg.steps, lostMasterDelayMs },
      this.clock.now(),
    );
  }

  private onDisconnected(_info: DisconnectInfo): void {
    if (this.stopped || this.executor.shuttingDown) return;
    this.safety.masterUnreachable(this.connection.lastContact);
  }

  private shutdownLocally(reason: string): void {
    const ups = [...this.states.keys()][0] ?? '';
    this.notify({
      event: 'SHUTDOWN',
      ups,
      message: `${this.settings.id}: ${reason}`,
      vars: this.states.get(ups)?.vars ?? {},
    });
    this.executor.shutdownLocally(reason);
  }

  private notify(ev: NotifyEvent): void {
    const { command, timeoutMs, webhooks } = this.settings.notify;
    if (webhooks && webhooks.length > 0) {
      const w = sendWebhooks(
        webhooks,
        {
          event: ev.event,
          message: ev.message,
          ups: ev.ups,
          source: { role: 'agent', id: this.settings.id, group: this.settings.group },
          ts: new Date(this.clock.now()).toISOString(),
          ...(ev.vars ? { vars: ev.vars } : {}),
        },
        { logger: this.logger.child({ module: 'webhook' }) },
      );
      this.notifications.add(w);
      void w.finally(() => this.notifications.delete(w));
    }
    if (command === undefined) return;
    const p = runNotify(
      {
        command,
        timeoutMs,
        agentId: this.settings.id,
        group: this.settings.group,
        logger: this.logger.child({ module: 'notify' }),
      },
      ev,
    );
    this.notifications.add(p);
    void p.finally(() => this.notifications.delete(p));
  }
}
