/**
 * The master's lifecycle in one place: components are built in the constructor-free `start()` in order
 * (journal, hub, registry, source, policy, sequencer, servers) and stopped in reverse. It wires the data
 * flow of DESIGN.md: source -> hub -> policy -> sequencer -> orders; hub -> agents, HTTP, NUT clients.
 */
import { mkdirSync } from 'node:fs';
import { uptime } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../shared/clock.js';
import type { MasterSettings, StepSpec } from '../shared/config/master-settings.js';
import { UpsfleetError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/fs/atomic-file.js';
import type { PowerEvent } from '../shared/nut/events.js';
import { VERSION } from '../shared/version.js';
import { TokenStore } from './auth/token-store.js';
import { createDashboard } from './dashboard/dashboard.js';
import { Advertiser } from './discovery/advertiser.js';
import { FleetRegistry, SECONDARIES_GROUP } from './fleet/registry.js';
import { FleetOps } from './fleet-ops.js';
import { journalDecisions } from './journal/decision-journal.js';
import { crashAfter, parseCrashPoint } from './journal/failpoint.js';
import { Journal } from './journal/journal.js';
import { emptyRecoveredState, type RecoveredState, reduceRecovered } from './journal/recovery.js';
import { type ResumeResult, resumeFromJournal } from './journal/resume.js';
import { NutServer } from './nut/server/nut-server.js';
import { declaredNutMembers } from './nut/server/nut-users.js';
import { Policy } from './policy/policy.js';
import { Sequencer } from './sequencer/sequencer.js';
import { AddressGuard } from './servers/address-guard.js';
import { AgentServer } from './servers/agent-server.js';
import { HttpServer } from './servers/http-server.js';
import { registerTlsWorkerMetrics } from './servers/tls-worker/tls-worker-metrics.js';
import { runFinalStep } from './shutdown/final-step.js';
import { createSource } from './sources/create-source.js';
import type { Source } from './sources/source.js';
import { registerSourceHealthMetrics } from './sources/source-health-metrics.js';
import { SshTargets } from './ssh/ssh-targets.js';
import { StateHub } from './state/state-hub.js';
import { resolveTlsMaterial, type TlsMaterial } from './tls/tls-material.js';
import { registerWakeMetrics } from './wake/wake-metrics.js';
import { Waker } from './wake/waker.js';

const SECONDARIES_DEADLINE_MS = 30_000;

export interface MasterDeps {
  clock?: Clock;
  logger: Logger;
  /** Replaces the configured source (tests, benchmarks). */
  source?: Source;
}

export interface Stoppable {
  stop(): Promise<void> | void;
}

export class Master {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hub: StateHub;
  readonly registry = new FleetRegistry();
  readonly journal: Journal<RecoveredState>;
  /** What the journal said at start and what was resumed (null: nothing was in progress). */
  resumed: ResumeResult | null = null;
  readonly steps: StepSpec[];
  policy!: Policy;
  /** Wakes early groups' hosts when mains return before the fleet sequence (docs/WAKE.md). */
  waker!: Waker;
  sequencer!: Sequencer;
  source!: Source;
  agentServer!: AgentServer;
  address: { host: string; port: number } | null = null;
  nutAddress: { host: string; port: number } | null = null;
  /** The certificate agents pin; null when serving plain on loopback. */
  tls: TlsMaterial | null = null;
  /** The NUT server when `nut:` is on (a config reload swaps its users). */
  nutServer: NutServer | null = null;
  /** The main port's listener (agents, API, dashboard). */
  private httpServer: HttpServer | null = null;
  guard!: AddressGuard;
  tokens!: TokenStore;
  private readonly stack: Stoppable[] = [];
  private markSourceReady: () => void = () => {};
  private readonly sourceReady = new Promise<void>((resolve) => {
    this.markSourceReady = resolve;
  });
  private readonly startedAt: number;
  private readonly eventCounts = new Map<PowerEvent, number>();
  /** Notifications, drill measurements, battery plan, metrics (issue 6). */
  ops!: FleetOps;
  /** Agentless members powered off over SSH (`sshTargets:`, docs/SSH-TARGETS.md). */
  sshTargets!: SshTargets;

  constructor(
    readonly settings: MasterSettings,
    private readonly deps: MasterDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger;
    this.hub = new StateHub(settings.ups.name, this.clock);
    const crash = crashAfter(parseCrashPoint(process.env.UPSFLEET_CRASH_AFTER));
    this.journal = new Journal({
      file: join(settings.stateDir, 'journal.jsonl'),
      clock: this.clock,
      logger: this.logger.child({ module: 'journal' }),
      initial: emptyRecoveredState(),
      reduce: reduceRecovered,
      ...(settings.journalMaxBytes !== undefined ? { maxBytes: settings.journalMaxBytes } : {}),
      ...(crash ? { afterWrite: crash } : {}),
    });
    this.startedAt = this.clock.now();
    this.steps = settings.nut
      ? [
          ...settings.sequence,
          {
            index: settings.sequence.length + 1,
            groups: [SECONDARIES_GROUP],
            deadlineMs: SECONDARIES_DEADLINE_MS,
            settleMs: 0,
          },
        ]
      : settings.sequence;
  }

  async start(): Promise<{ host: string; port: number }> {
    const { settings, logger, clock } = this;
    try {
      mkdirSync(settings.stateDir, { recursive: true });
    } catch (err) {
      // a full or read-only disk must not keep the master from protecting the fleet
      logger.error({ err, dir: settings.stateDir }, 'cannot create the state directory; going on without it');
    }
    const recovered = this.journal.open();
    this.stack.push({ stop: () => this.journal.close() });
    this.tokens = new TokenStore(
      settings.tokensFile,
      { agents: settings.agents, admins: settings.admins },
      (err) =>
        logger.error(
          { err, file: settings.tokensFile },
          'cannot read the tokens file; keeping the last good one',
        ),
      (creds) => {
        logger.info(
          { file: settings.tokensFile, agents: creds.agents.size, admins: creds.admins.length },
          'tokens file reloaded',
        );
        for (const a of creds.agents.values()) this.registry.declare(a.id, 'agent', a.group);
        this.agentServer?.dropRevoked(creds);
      },
    );
    for (const a of this.tokens.current().agents.values()) this.registry.declare(a.id, 'agent', a.group);
    // NUT users with a group are members known in advance too: a step resumed below waits for them
    for (const m of declaredNutMembers(settings.nut?.users ?? []))
      this.registry.declare(m.id, 'nut', m.group);
    // a revoked agent is dropped within seconds even if nobody connects meanwhile
    const tokenPoll = setInterval(() => this.tokens.current(), 2000);
    tokenPoll.unref();
    this.stack.push({ stop: () => clearInterval(tokenPoll) });
    this.guard = new AddressGuard({
      clock,
      connectionsPerAddress: settings.limits.connectionsPerAddress,
      authFailures: settings.limits.authFailures,
      maxBackoffMs: settings.limits.maxBackoffMs,
    });

    this.policy = new Policy({
      clock,
      logger: logger.child({ module: 'policy' }),
      debounceMs: settings.policy.debounceMs,
      deadtimeMs: settings.policy.deadtimeMs,
      critical: settings.policy.critical,
      earlyGroups: settings.earlyGroups,
    });
    this.stack.push(this.policy);

    this.sequencer = new Sequencer({
      clock,
      logger: logger.child({ module: 'sequencer' }),
      masterId: settings.id,
      steps: this.steps,
      earlyGroups: settings.earlyGroups,
      registry: this.registry,
      // a final step resumed at start must wait for the UPS source: killpower goes through it
      finalStep: async (ctx) => {
        await this.sourceReady;
        await runFinalStep(this, ctx);
      },
      batch: (fn) => this.journal.batch(fn),
    });
    this.stack.push(this.sequencer);
    this.ops = new FleetOps({
      settings,
      steps: this.steps,
      clock,
      logger: logger.child({ module: 'ops' }),
      hub: this.hub,
      policy: this.policy,
      sequencer: this.sequencer,
      registry: this.registry,
      events: () => Object.fromEntries(this.eventCounts),
      rejections: () => this.agentServer?.rejections.toJSON() ?? {},
      journal: () => this.journal.status(),
      link: (id) => this.agentServer?.link(id),
    });
    this.ops.start();
    this.stack.push(this.ops);
    // SSH targets answer their orders as agents do, through the same sequencer calls
    this.sshTargets = new SshTargets({
      targets: settings.sshTargets,
      clock,
      logger: logger.child({ module: 'ssh-targets' }),
      registry: this.registry,
      feedback: {
        ack: (id, orderId) => this.sequencer.onAck(id, orderId),
        progress: (id, msg) => this.sequencer.onProgress(id, msg),
        goingDown: (id, orderId, dryRun, failures) =>
          this.sequencer.onGoingDown(id, orderId, dryRun, failures),
        drillReport: (id, orderId, hooks) => this.sequencer.onDrillReport(id, { orderId, hooks }),
        gone: (id, orderId, detail) => this.sequencer.onGone(id, orderId, detail),
      },
    });
    this.sequencer.subscribe(this.sshTargets);
    this.sshTargets.registerMetrics(this.ops.metrics.registry);

    this.agentServer = new AgentServer({
      masterId: settings.id,
      agents: settings.agents,
      credentials: () => this.tokens.current(),
      guard: this.guard,
      handshakeTimeoutMs: settings.limits.handshakeTimeoutMs,
      maxMessageBytes: settings.limits.maxMessageBytes,
      maxClockSkewMs: settings.limits.maxClockSkewMs,
      missedPongs: settings.limits.missedPongs,
      maxSilenceMs: settings.limits.maxSilenceMs,
      registry: this.registry,
      clock,
      logger: logger.child({ module: 'agent-server' }),
      pingIntervalMs: settings.pingIntervalMs,
      snapshot: () => ({ hub: this.hub.snapshot(), policy: this.policy.view() }),
      stepOf: (group) => this.steps.find((s) => s.groups.includes(group))?.index ?? null,
      steps: this.steps.length,
      lostMasterSpacingMs: settings.policy.lostMasterSpacingMs,
      feedback: {
        ack: (id, msg) => this.sequencer.onAck(id, msg.orderId),
        progress: (id, msg) => this.sequencer.onProgress(id, msg),
        goingDown: (id, msg) => this.sequencer.onGoingDown(id, msg.orderId, msg.dryRun, msg.hookFailures),
        drillReport: (id, msg) => this.sequencer.onDrillReport(id, msg),
        decline: (id, msg) => this.sequencer.onDecline(id, msg.orderId, msg.reason),
      },
    });

    this.hub.subscribe({
      vars: (snap, changed) => {
        if (changed.length > 0) this.agentServer.broadcastState(snap, this.policy.view());
      },
      comm: (snap, ok, reason) => {
        this.journal.write({ kind: 'comm', ts: clock.now(), ok, reason });
        this.agentServer.broadcastState(snap, this.policy.view());
      },
    });
    journalDecisions({
      policy: this.policy,
      sequencer: this.sequencer,
      journal: this.journal,
      clock,
      logger,
      broadcast: (event, message) => {
        if (event !== 'SHUTDOWN') this.eventCounts.set(event, (this.eventCounts.get(event) ?? 0) + 1);
        this.agentServer.broadcastEvent(event, message);
      },
    });
    // the journal's memory first: nobody is served (no agent, no NUT client) before the state is rebuilt
    this.resumed = resumeFromJournal({
      state: recovered,
      policy: this.policy,
      sequencer: this.sequencer,
      journal: this.journal,
      clock,
      logger,
      bootedAt: Date.now() - uptime() * 1000,
      configured: this.steps,
    });
    this.policy.attach(this.hub);
    // after the resume: a step resumed from the journal orders a target again once it answers, unless the
    // target had accepted its command (its confirmation watch resumes)
    this.sshTargets.start(this.sequencer.view());
    this.stack.push(this.sshTargets);
    // after the resume (it reads what the journal and the sequencer know) and after the policy's listeners
    this.waker = new Waker({
      clock,
      logger: logger.child({ module: 'wake' }),
      earlyGroups: settings.earlyGroups,
      journal: this.journal,
      hub: this.hub,
      policy: this.policy,
      sequencer: this.sequencer,
      registry: this.registry,
    });
    this.waker.start();
    this.stack.push(this.waker);
    registerWakeMetrics(this.ops.metrics.registry, () => this.waker.view());
    registerSourceHealthMetrics(this.ops.metrics.registry, () => this.source?.health?.());

    this.tls = resolveTlsMaterial(settings, logger);
    // the web dashboard and `upsfleet monitor`: a live feed of the same state, events and timeline (issue 13)
    const dashboard = createDashboard(this);
    dashboard.feed.start();
    this.stack.push(dashboard.feed);
    const http = new HttpServer({
      dashboard: dashboard.http,
      tls: this.tls,
      guard: this.guard,
      handshakeTimeoutMs: settings.limits.handshakeTimeoutMs,
      tlsWorkers: settings.tlsWorkers,
      host: settings.listen.host,
      port: settings.listen.port,
      logger: logger.child({ module: 'http' }),
      agentServer: this.agentServer,
      admins: settings.admins,
      credentials: () => this.tokens.current(),
      status: () => this.status(),
      metrics: this.ops.metrics,
      admin: {
        simulate: async (name, value) => this.source.setVariable(name, value),
        fsd: async (reason) => this.policy.forceShutdown(reason),
        drill: async () => {
          const before = this.sequencer.view().runId;
          this.sequencer.start('drill requested by admin', { drill: true });
          const after = this.sequencer.view();
          if (after.runId === null || after.runId === before || !after.drill) {
            throw new UpsfleetError(
              'DRILL_REFUSED',
              `a ${after.drill ? 'drill' : 'real shutdown sequence'} is ${after.state}: no drill now`,
              { state: after.state },
            );
          }
          return { runId: after.runId };
        },
      },
    });
    this.address = await http.start();
    this.httpServer = http;
    if (http.tlsWorkerViews().length > 0)
      registerTlsWorkerMetrics(this.ops.metrics.registry, () => http.tlsWorkerViews());
    this.stack.push(http, this.agentServer);

    this.source = this.deps.source ?? (await createSource(settings, clock, logger));
    if (settings.nut) {
      const nut = new NutServer({
        config: settings.nut,
        hub: this.hub,
        registry: this.registry,
        source: this.source,
        clock,
        logger: logger.child({ module: 'nut-server' }),
        onFsd: (user, reason) => this.policy.forceShutdown(`FSD from NUT user ${user}: ${reason}`),
        description: settings.ups.description,
        version: VERSION,
        ...(this.tls ? { tls: { keyPem: this.tls.keyPem, certPem: this.tls.certPem } } : {}),
      });
      this.nutServer = nut;
      this.nutAddress = await nut.start();
      this.stack.push(nut);
      logger.info({ address: this.nutAddress }, 'NUT server listening');
    }
    if (this.tls && (settings.mdns ?? true)) {
      const advertiser = new Advertiser({
        masterId: settings.id,
        port: this.address.port,
        fingerprint: this.tls.fingerprint,
        ...(this.nutAddress ? { nutPort: this.nutAddress.port } : {}),
        logger: logger.child({ module: 'mdns' }),
      });
      advertiser.start();
      this.stack.push(advertiser);
    } else if (settings.mdns) {
      logger.warn(
        'master.mdns is on but TLS is off: not advertising (agents only trust a pinned certificate)',
      );
    }
    await this.source.start({
      update: (vars) => this.hub.publishVars(vars),
      comm: (ok, reason) => this.hub.publishComm(ok, reason),
    });
    this.stack.push(this.source);
    this.markSourceReady();

    const secure = this.tls !== null;
    const hostPort = this.address.host.includes(':')
      ? `[${this.address.host}]:${this.address.port}`
      : `${this.address.host}:${this.address.port}`;
    const url = `${secure ? 'wss' : 'ws'}://${hostPort}/ws`;
    this.writeStateFile(
      join(settings.stateDir, 'master.json'),
      JSON.stringify({
        pid: process.pid,
        id: settings.id,
        url,
        http: `${secure ? 'https' : 'http'}://${hostPort}`,
        ...(this.tls ? { fingerprint: this.tls.fingerprint } : {}),
        ...(this.nutAddress ? { nut: `${this.nutAddress.host}:${this.nutAddress.port}` } : {}),
      }),
    );
    this.journal.write({
      kind: 'start',
      ts: clock.now(),
      id: settings.id,
      url,
      version: VERSION,
      pid: process.pid,
    });
    logger.info(
      { url, ups: settings.ups.name, source: this.source.kind, steps: this.steps.length },
      'master ready',
    );
    return this.address;
  }

  async stop(): Promise<void> {
    while (this.stack.length > 0) {
      const c = this.stack.pop()!;
      try {
        await c.stop();
      } catch (err) {
        this.logger.warn({ err }, 'error while stopping a component');
      }
    }
  }

  /** A state file that cannot be written (full disk) is logged; serving goes on. */
  private writeStateFile(file: string, content: string): void {
    try {
      writeFileAtomic(file, content);
    } catch (err) {
      this.logger.error({ err, file }, 'cannot write a state file; going on without it');
    }
  }

  /** A config reload is a decision too: journaled with what was applied and what waits for a restart. */
  journalReload(result: object): void {
    this.journal.write({ ...result, kind: 'reload', ts: this.clock.now() });
  }

  status(): Record<string, unknown> {
    const hub = this.hub.snapshot();
    return {
      master: {
        id: this.settings.id,
        version: VERSION,
        startedAt: this.startedAt,
        source: this.source?.kind ?? null,
      },
      ups: {
        name: hub.ups,
        vars: hub.vars,
        waiting: hub.waiting,
        stale: hub.stale,
        staleReason: hub.staleReason,
        // usbhid: reports it could not decode or that came short, and variables whose report went stale
        sourceHealth: this.source?.health?.() ?? null,
        updatedAt: hub.updatedAt,
      },
      policy: this.policy.view(),
      // each agent with what the master measured of its link (RTT, clock skew, silence allowed)
      agents: this.registry.all().map((a) => {
        if (a.kind === 'ssh') return { ...a, ssh: this.sshTargets.view(a.id) ?? null };
        const link = a.kind === 'agent' ? this.agentServer.link(a.id) : undefined;
        return link ? { ...a, link } : a;
      }),
      sequence: this.sequencer.view(),
      events: Object.fromEntries(this.eventCounts),
      rejectedMessages: this.agentServer.rejections.toJSON(),
      // the master's own part of pushing a state or event to every agent (their receiving not included)
      fanout: this.agentServer.fanoutView,
      plan: this.ops.plan(),
      lastDrill: this.ops.drills.last,
      limits: this.guard.stats(),
      // the main port: refusals by kind (out of file descriptors, per address, plain text on TLS, shed, stalled)
      main: this.httpServer
        ? { refused: this.httpServer.refusalCounts(), tlsWorkers: this.httpServer.tlsWorkerViews() }
        : null,
      // the NUT port: open connections and refusals by kind (per address, logins, passwords in clear)
      nut: this.nutServer
        ? { connections: this.nutServer.connectionCount, refused: this.nutServer.refusalCounts() }
        : null,
      journal: this.journal.status(),
      resumed: this.resumed,
      wake: this.waker.view(),
      tls: this.tls ? { fingerprint: this.tls.fingerprint } : null,
    };
  }
}
