/**
 * The agent: one class wiring the master link(s), the local safety policy, the order executor and the
 * notify command. The constructor only stores; start() connects; stop() closes gracefully (1000).
 * A host fed by several UPSes (`supplies:`) follows one master per UPS at once, each link with its own
 * local deadtime and place in that master's order; agent/supplies.ts counts the supplies it still trusts
 * and decides which order to obey. The single `master:` form is one supply of power value 1.
 */
import { networkInterfaces, hostname as osHostname } from 'node:os';
import { type Clock, systemClock } from '../shared/clock.js';
import { type AgentSettings, type SupplySpec, suppliesOf } from '../shared/config/agent-settings.js';
import type { runHooks } from '../shared/exec/hook-runner.js';
import { type NotifyEvent, runNotify } from '../shared/exec/notify.js';
import type { powerOff } from '../shared/exec/power-off.js';
import { sendWebhooks } from '../shared/exec/webhook.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import { macCapability, macForLocalAddress } from '../shared/net/mac.js';
import { NotifyQueue } from '../shared/notify/notify-queue.js';
import { serviceMessage } from '../shared/notify/service-url.js';
import {
  CloseCodes,
  GUEST_PROGRESS_CAPABILITY,
  type MasterMsg,
  type OrderMsg,
  type StateMsg,
  type SupplyDeclarationT,
  type WelcomeMsg,
} from '../shared/protocol/messages.js';
import { Discovery } from './discovery.js';
import { GuestRestarter, type GuestRestarterOptions } from './guest-restarter.js';
import { LocalSafety } from './local-safety.js';
import { LostMasterDelayStore } from './lost-master-delay-store.js';
import {
  type AgentBody,
  type DisconnectInfo,
  type HelloFields,
  MasterConnection,
  type WebSocketImpl,
} from './master-connection.js';
import { OrderExecutor } from './order-executor.js';
import { Supplies } from './supplies.js';
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
  guestRestart?: GuestRestarterOptions['restart'];
}

/** What this agent can do, announced in hello. */
export const AGENT_CAPABILITIES = [
  'order',
  'progress',
  'drill',
  'dry-run',
  'notify',
  'local-safety',
  // reads an order's deadline as a duration (deadlineInMs): a skewed clock cannot make it late or early
  'relative-deadline',
  // guest presets report each guest; sent only to a master whose welcome says it takes them
  GUEST_PROGRESS_CAPABILITY,
];

/** One master the agent follows (one per UPS feeding the host): its link, local deadtime and place in its order. */
interface SupplyLink {
  index: number;
  spec: SupplySpec;
  connection: MasterConnection;
  safety: LocalSafety;
  /** Our place in this master's shutdown order, kept across restarts for the lost-master case. */
  place: LostMasterDelayStore;
  /** The last `state` snapshot from this master, per UPS. */
  states: Map<string, StateMsg>;
  welcome: WelcomeMsg | null;
  /** A welcome came since the link last opened. */
  welcomed: boolean;
  /** An older master refused our hello with `supplies`: we say hello without it (and it gets no decline). */
  legacyHello: boolean;
  /** What this master was last told (hello or `supplies`) the other supplies give. */
  helloOthers: number | null;
}

export class Agent {
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** mDNS discovery when the config says `master: { auto: true }`. */
  private readonly discovery: Discovery | null;
  private readonly links: SupplyLink[];
  /** Several UPSes feed this host (`supplies:` in the config). */
  private readonly multi: boolean;
  private readonly supplies: Supplies;
  /** Which link each order came from: the executor's replies go back to that master. */
  private readonly orderLink = new Map<string, number>();
  private readonly executor: OrderExecutor;
  /** Starts again, after power returns, the guests that presets stopped. */
  private readonly guestRestarter: GuestRestarter;
  private readonly notifications = new Set<Promise<unknown>>();
  /** Deliveries to notify.urls (made on the first one): queued, bounded, retried, never awaited by an order. */
  private notifyQueue: NotifyQueue | null = null;
  private _welcome: WelcomeMsg | null = null;
  private started = false;
  private stopped = false;

  constructor(
    private readonly settings: AgentSettings,
    opts: AgentOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.logger = (opts.logger ?? silentLogger()).child({ agentId: settings.id });
    const { supplies, minSupplies } = suppliesOf(settings);
    this.multi = settings.supplies !== undefined && settings.supplies.length > 0;
    this.discovery =
      settings.masterAuto && !this.multi
        ? new Discovery({
            fingerprints: settings.masterTls.fingerprints,
            logger: this.logger.child({ module: 'discovery' }),
            ...(opts.mdns ? { mdns: opts.mdns } : {}),
          })
        : null;
    this.supplies = new Supplies({
      supplies: supplies.map((sp) => ({ name: sp.name, powerValue: sp.powerValue })),
      minSupplies,
      logger: this.logger.child({ module: 'supplies' }),
      isDown: () => this.executor.shuttingDown,
      obey: (index, order) => this.obey(index, order),
      shutdownLocally: (reason) => this.shutdownLocally(reason),
      report: (index, declaration) => this.report(index, declaration),
    });
    this.links = supplies.map((spec, index) => this.makeLink(spec, index, opts));
    this.executor = new OrderExecutor({
      agentId: settings.id,
      hooks: settings.hooks,
      shutdown: settings.shutdown,
      clock: this.clock,
      logger: this.logger.child({ module: 'shutdown' }),
      send: (body) => this.sendReply(body),
      stateDir: settings.stateDir,
      // the host stayed up (dry-run): guests stopped by presets may start again when power returns
      onDryRunDone: () => this.guestRestarter.check(),
      // the OS is going down: close the links now so the masters see it at once
      onPowerOffStarted: () => {
        for (const link of this.links) void link.connection.suspend();
      },
      ...(opts.runHooks ? { runHooks: opts.runHooks } : {}),
      ...(opts.powerOff ? { powerOff: opts.powerOff } : {}),
    });
    this.guestRestarter = new GuestRestarter({
      stateDir: settings.stateDir,
      clock: this.clock,
      logger: this.logger.child({ module: 'guests' }),
      isShuttingDown: () => this.executor.shuttingDown,
      ...(opts.guestRestart ? { restart: opts.guestRestart } : {}),
    });
  }

  /** The first (or only) master's link, its local safety and its saved place. */
  private get connection(): MasterConnection {
    return this.links[0]!.connection;
  }

  private get safety(): LocalSafety {
    return this.links[0]!.safety;
  }

  private makeLink(spec: SupplySpec, index: number, opts: AgentOptions): SupplyLink {
    const settings = this.settings;
    const logger = this.multi ? this.logger.child({ supply: spec.name }) : this.logger;
    const hello: HelloFields = {
      agentId: settings.id,
      group: settings.group,
      version: opts.version ?? AGENT_VERSION,
      capabilities: AGENT_CAPABILITIES,
      token: spec.token,
      dryRun: settings.shutdown.dryRun,
      hostname: (opts.hostname ?? osHostname()).slice(0, 255),
    };
    const link = {
      index,
      spec,
      states: new Map(),
      welcome: null,
      welcomed: false,
      legacyHello: false,
      helloOthers: null,
    } as Omit<SupplyLink, 'connection' | 'safety' | 'place'> as SupplyLink;
    if (this.multi) {
      // read at every connect: the count as it is then (an older master that refused it gets none)
      Object.defineProperty(hello, 'supplies', {
        enumerable: true,
        get: () => {
          if (link.legacyHello) return undefined;
          const declaration = this.supplies.declaration(index);
          link.helloOthers = declaration.others;
          return declaration;
        },
      });
    }
    link.connection = new MasterConnection({
      urls: this.discovery ? () => this.discovery?.urls() ?? [] : spec.urls,
      tls: spec.tls,
      onPinMismatch: (url, presented) => this.discovery?.refused(url, presented),
      hello,
      // the MAC of the interface that carries this master connection, for Wake-on-LAN (docs/WAKE.md)
      linkCapabilities: (local) => {
        const mac = macForLocalAddress(local, networkInterfaces());
        return mac ? [macCapability(mac)] : [];
      },
      reconnect: settings.reconnect,
      clock: this.clock,
      logger: logger.child({ module: 'master-connection' }),
      ...(opts.WebSocket ? { WebSocket: opts.WebSocket } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      // while on battery with this master lost, no reconnect wait outlasts the local deadtime
      deadline: () => link.safety.shutdownAt,
      onMessage: (msg) => this.onMessage(link, msg),
      onConnected: () => this.onConnected(link),
      onDisconnected: (info) => this.onDisconnected(link, info),
    });
    link.safety = new LocalSafety({
      deadtimeMs: settings.deadtimeMs,
      clock: this.clock,
      logger: logger.child({ module: 'local-safety' }),
      onShutdown: (reason) => this.supplies.gone(index, reason),
      // one bounded attempt right before going down: a link that healed since the last try wins
      lastAttempt: (budgetMs) => link.connection.lastAttempt(budgetMs),
      ...(this.multi ? { supply: spec.name } : {}),
    });
    link.place = new LostMasterDelayStore(spec.stateDir, logger.child({ module: 'local-safety' }));
    return link;
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

  /** The last `state` snapshot received (from the first master), per UPS. */
  get state(): ReadonlyMap<string, StateMsg> {
    return this.links[0]!.states;
  }

  /** Each supply as the agent counts it (one entry for a single master). */
  get supplyView(): ReturnType<Supplies['view']> {
    return this.supplies.view();
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
        ...(this.multi
          ? {
              supplies: this.links.map((l) => ({
                name: l.spec.name,
                urls: l.spec.urls,
                powerValue: l.spec.powerValue,
              })),
              minSupplies: this.supplies.minSupplies,
            }
          : {}),
        dryRun: s.shutdown.dryRun,
        hooks: s.hooks.map((h) => h.name),
        deadtimeMs: s.deadtimeMs,
      },
      s.shutdown.dryRun
        ? 'agent starting (dry-run: will write a marker instead of powering off)'
        : 'agent starting',
    );
    for (const link of this.links) this.restorePlace(link);
    this.guestRestarter.check();
    this.discovery?.start();
    for (const link of this.links) link.connection.start();
  }

  /** Graceful stop: close the link with 1000 and wait for running notify commands. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const link of this.links) link.safety.stop();
    this.guestRestarter.stop();
    this.discovery?.stop();
    await Promise.all(this.links.map((link) => link.connection.stop()));
    await Promise.allSettled([...this.notifications, this.notifyQueue?.drain(5_000)]);
    this.notifyQueue?.stop();
    this.logger.info('agent stopped');
  }

  private onMessage(link: SupplyLink, msg: MasterMsg): void {
    switch (msg.type) {
      case 'welcome':
        link.welcome = msg;
        link.welcomed = true;
        // only a welcome proves a master that serves us: a link that opens and is never welcomed must not
        // keep pushing the local shutdown back
        link.safety.masterReachable();
        if (link.index === 0) this._welcome = msg;
        this.keepPlace(link, msg);
        // the count may have changed between our hello and this welcome: the master hears it now
        if (
          this.understandsSupplies(link) &&
          this.supplies.declaration(link.index).others !== link.helloOthers
        )
          this.report(link.index, this.supplies.declaration(link.index));
        this.logger.info(
          {
            masterId: msg.masterId,
            ups: msg.ups,
            step: msg.step,
            steps: msg.steps,
            lostMasterDelayMs: link.safety.lostMasterDelayMs,
            ...(this.multi ? { supply: link.spec.name } : {}),
          },
          msg.step === null
            ? 'welcomed by the master (early group)'
            : `welcomed by the master (step ${msg.step} of ${msg.steps})`,
        );
        return;
      case 'state':
        link.states.set(msg.ups, msg);
        link.safety.observeStatus(msg.ups, msg.vars['ups.status']);
        this.supplies.observeState(link.index, msg);
        if (!msg.stale) this.guestRestarter.observeStatus(msg.vars['ups.status']);
        return;
      case 'event':
        this.logger.info({ ups: msg.ups, event: msg.event }, msg.message || msg.event);
        this.notify({
          event: msg.event,
          ups: msg.ups,
          message: msg.message,
          vars: link.states.get(msg.ups)?.vars ?? {},
        });
        return;
      case 'order':
        this.onOrder(link, msg);
        return;
      case 'ping':
        return; // answered by the connection
    }
  }

  /** An order is obeyed, or declined while other supplies still feed the host (agent/supplies.ts decides). */
  private onOrder(link: SupplyLink, order: OrderMsg): void {
    this.orderLink.set(order.orderId, link.index);
    // an order already carried out (re-sent after a reconnect) replays what it did
    if (this.executor.runFor(order.orderId)) {
      this.executor.handleOrder(order);
      return;
    }
    const decision = this.supplies.order(link.index, order);
    if (decision.obey) {
      this.executor.handleOrder(order);
      return;
    }
    if (!this.understandsSupplies(link)) {
      // an older master knows nothing of supplies: it gets no answer and sees the order cut short
      this.logger.info(
        { supply: link.spec.name, orderId: order.orderId },
        'declined order not answered (older master)',
      );
      return;
    }
    link.connection.send({
      type: 'decline',
      orderId: order.orderId,
      reason: decision.reason.slice(0, 512),
      supplies: decision.declaration,
    });
  }

  /** A declined order whose count ran out since: carried out now, replies to the master that sent it. */
  private obey(index: number, order: OrderMsg): void {
    this.orderLink.set(order.orderId, index);
    this.executor.handleOrder(order);
  }

  private understandsSupplies(link: SupplyLink): boolean {
    return this.multi && link.welcomed && !link.legacyHello && link.connection.connected;
  }

  /** The power the other supplies give changed: tell this master (only one that took our supplies hello). */
  private report(index: number, declaration: SupplyDeclarationT): void {
    const link = this.links[index];
    if (!link || !this.understandsSupplies(link)) return;
    if (link.connection.send({ type: 'supplies', supplies: declaration }))
      link.helloOthers = declaration.others;
  }

  /** The executor's ack, progress and going-down go to the master whose order they answer. */
  private sendReply(body: AgentBody): void {
    const orderId = 'orderId' in body ? body.orderId : undefined;
    const link = this.links[(orderId !== undefined ? this.orderLink.get(orderId) : undefined) ?? 0]!;
    const understood = withoutGuestNews(body, link.welcome?.guestProgress === true);
    if (understood === null) return;
    if (!link.connection.send(understood))
      this.logger.debug({ type: body.type }, 'master link down: message not sent');
  }

  private onConnected(link: SupplyLink): void {
    link.welcomed = false;
    if (this.multi && !this.executor.shuttingDown) link.safety.rearm();
    this.supplies.connected(link.index);
  }

  /** The place the last welcome gave us, so that a restart while the master is down keeps it. */
  private restorePlace(link: SupplyLink): void {
    const saved = link.place.load();
    if (saved === null) return;
    if (saved.group !== this.settings.group) {
      // the config moved us to another group: that step's place is not ours any more
      this.logger.info(
        { path: link.place.path, savedGroup: saved.group, group: this.settings.group },
        'saved place in the shutdown order belongs to another group: ignored',
      );
      return;
    }
    link.safety.setLostMasterDelay(saved.lostMasterDelayMs);
    this.logger.info(
      {
        path: link.place.path,
        masterId: saved.masterId,
        step: saved.step,
        steps: saved.steps,
        lostMasterDelayMs: saved.lostMasterDelayMs,
        effectiveDeadtimeMs: link.safety.effectiveDeadtimeMs,
      },
      'restored our place in the shutdown order from the last welcome',
    );
  }

  private keepPlace(link: SupplyLink, msg: WelcomeMsg): void {
    // a master that predates lostMasterDelayMs orders nothing by step: plain deadtime, as it always was
    const lostMasterDelayMs = msg.lostMasterDelayMs ?? 0;
    link.safety.setLostMasterDelay(lostMasterDelayMs);
    link.place.save(
      { masterId: msg.masterId, group: msg.group, step: msg.step, steps: msg.steps, lostMasterDelayMs },
      this.clock.now(),
    );
  }

  private onDisconnected(link: SupplyLink, info: DisconnectInfo): void {
    if (this.multi && !link.welcomed && !link.legacyHello && info.code === CloseCodes.INVALID) {
      // a master that predates supplies refuses the unknown hello field: follow it without declaring them
      link.legacyHello = true;
      this.logger.warn(
        { supply: link.spec.name, url: info.url, reason: info.reason },
        'this master refused our hello with supplies (an older master?): saying hello without them; it may order this host down regardless, and such an order is declined without an answer while other supplies feed us',
      );
    }
    link.welcomed = false;
    this.supplies.disconnected(link.index);
    if (this.stopped || this.executor.shuttingDown) return;
    link.safety.masterUnreachable(link.connection.lastContact);
  }

  private shutdownLocally(reason: string): void {
    const states = this.links.find((l) => l.states.size > 0)?.states ?? new Map<string, StateMsg>();
    const ups = [...states.keys()][0] ?? '';
    this.notify({
      event: 'SHUTDOWN',
      ups,
      message: `${this.settings.id}: ${reason}`,
      vars: states.get(ups)?.vars ?? {},
    });
    this.executor.shutdownLocally(reason);
  }

  private notify(ev: NotifyEvent): void {
    const { command, timeoutMs, webhooks, services } = this.settings.notify;
    if (services && services.length > 0) {
      this.notifyQueue ??= new NotifyQueue({
        logger: this.logger.child({ module: 'notify-urls' }),
        clock: this.clock,
      });
      const source = `agent ${this.settings.id} (group ${this.settings.group})`;
      this.notifyQueue.enqueue(
        services,
        serviceMessage({ event: ev.event, message: ev.message, ups: ev.ups, source, ts: this.clock.now() }),
      );
    }
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

/**
 * A guest preset's per-guest news, for a master that takes it; an older master would refuse the unknown
 * fields (and close the link mid-shutdown), so it gets the hook's own progress only. Null: nothing to send.
 */
function withoutGuestNews(body: AgentBody, masterTakesGuests: boolean): AgentBody | null {
  if (masterTakesGuests) return body;
  if (body.type === 'progress' && body.guest !== undefined) return null;
  if (body.type === 'drill-report' && body.hooks.some((h) => h.guests !== undefined))
    return { ...body, hooks: body.hooks.map(({ guests: _guests, ...h }) => h) };
  return body;
}
