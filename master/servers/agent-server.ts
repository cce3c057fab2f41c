/**
 * The agent WebSocket server. A connection must `hello` with its own token within the handshake timeout;
 * then it gets `welcome` and the full state snapshot, and every state change and event after that.
 * Every inbound message is size-limited and schema-validated; a bad one closes only that connection
 * with a 4xxx code and a counted log line. Liveness: a protocol ping every interval; an agent silent for
 * longer than its allowance (missed pongs plus twice its measured round trip, shared/protocol/link-timing.ts)
 * is terminated, so a slow link is not taken for a dead one. Each agent's RTT and clock skew are measured
 * from the pings and reported (`link`); the skew is never a reason to refuse anything.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { verifyToken } from '../../shared/auth/token.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { macFromCapabilities } from '../../shared/net/mac.js';
import type { PowerEvent } from '../../shared/nut/events.js';
import { decodeAgentMessage, encode, envelop } from '../../shared/protocol/codec.js';
import {
  DEFAULT_MAX_SILENCE_MS,
  DEFAULT_MISSED_PONGS,
  livenessAllowanceMs,
  RttEstimator,
  SkewEstimator,
} from '../../shared/protocol/link-timing.js';
import {
  type AgentMsg,
  CloseCodes,
  type EventMsg,
  GUEST_PROGRESS_CAPABILITY,
  MAX_MESSAGE_BYTES,
  type MasterMsg,
  type OrderMsg,
  type PolicyViewT,
  RECONNECT_WINDOW_CAPABILITY,
  STATE_DELTA_CAPABILITY,
  type StateDeltaMsg,
  type StateMsg,
  type WelcomeMsg,
} from '../../shared/protocol/messages.js';
import { ReplayGuard, SEQ_CAPABILITY } from '../../shared/protocol/replay-guard.js';
import { type StatePicture, sortedVars } from '../../shared/protocol/state-delta.js';
import type { Credentials } from '../auth/token-store.js';
import type { FleetRegistry, MemberChannel } from '../fleet/registry.js';
import type { HubSnapshot } from '../state/state-hub.js';
import { type AddressGuard, normalizeIp } from './address-guard.js';
import { type AgentLink, type LinkEvents, WsLink } from './agent-link.js';
import { lostMasterDelayMs } from './lost-master-delay.js';
import { RejectionCounters } from './protocol-counters.js';
import { reconnectWindowMs } from './reconnect-window.js';
import { RefusalLog } from './refusal-log.js';
import { SharedFrame } from './shared-frame.js';
import { StateStream } from './state-stream.js';

/** What the server reports back to the sequencer. Each returns false when the message did not fit. */
export interface OrderFeedback {
  ack(memberId: string, msg: Extract<AgentMsg, { type: 'ack' }>): void;
  progress(memberId: string, msg: Extract<AgentMsg, { type: 'progress' }>): void;
  goingDown(memberId: string, msg: Extract<AgentMsg, { type: 'going-down' }>): void;
  drillReport(memberId: string, msg: Extract<AgentMsg, { type: 'drill-report' }>): void;
  /** A host fed by other UPSes too will not go down at this order (redundantly fed). */
  decline?(memberId: string, msg: Extract<AgentMsg, { type: 'decline' }>): void;
}

export interface AgentServerOptions {
  masterId: string;
  agents: ReadonlyArray<{ id: string; group: string; tokenHash: string }>;
  registry: FleetRegistry;
  clock: Clock;
  logger: Logger;
  pingIntervalMs: number;
  handshakeTimeoutMs?: number;
  /** The live credentials (tokens file merged with the config); default: `agents` above. */
  credentials?: () => Credentials;
  /** Per-address failed-auth backoff (the same guard as the listener's). */
  guard?: AddressGuard;
  /** Largest inbound message (default MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
  /** An agent clock further than this from the master's is logged as a warning, once per connection (default 30 s). */
  maxClockSkewMs?: number;
  /** Ping intervals an agent may stay silent on top of twice its round trip (default 2). */
  missedPongs?: number;
  /** The longest silence allowed however slow the link (default 2 min). */
  maxSilenceMs?: number;
  /** Current UPS snapshot and policy view, for the snapshot sent on connect. */
  snapshot: () => { hub: HubSnapshot; policy: PolicyViewT };
  /** The step (1-based) of a group in the fleet sequence, or null for an early group. */
  stepOf: (group: string) => number | null;
  steps: number;
  /**
   * `policy.lostMasterSpacing`: each agent is told to wait (step - 1) × this on top of its deadtime when the
   * master is lost while on battery. Absent: welcome carries no lostMasterDelayMs (agents wait their deadtime).
   */
  lostMasterSpacingMs?: number;
  feedback: OrderFeedback;
}

interface Session {
  link: AgentLink;
  address: string;
  ip: string;
  replay: ReplayGuard;
  /** The group the token granted at hello. */
  channelGroup: string | null;
  agentId: string | null;
  channel: MemberChannel | null;
  handshakeTimer: TimerHandle | null;
  pingTimer: TimerHandle | null;
  /** When the upgrade answered (the hello comes one round trip later) and when the agent last said anything. */
  upgradedAt: number;
  lastHeard: number;
  /** Send times of the pings not answered yet: pongs come back in order (one TCP stream). */
  pingsInFlight: number[];
  rtt: RttEstimator;
  skew: SkewEstimator;
  skewWarned: boolean;
  /** The agent numbers its messages and checks ours (`seq` capability): the session id, our last seq; null when not. */
  sid: string | null;
  lastSeq: number | null;
  /** The agent understands `deadlineInMs` in orders. */
  relativeDeadline: boolean;
  /** The agent applies `state-delta` messages (STATE_DELTA_CAPABILITY). */
  stateDelta: boolean;
  /**
   * The state revision such an agent holds as far as we know: the next delta goes to it only if it is that
   * delta's base, otherwise the agent gets a full state. Null: it holds a state that is no revision (the
   * snapshot it got on connect had moved on from the last broadcast).
   */
  stateRev: number | null;
  /** Why the master closed this connection itself (missed pings, rejected): its close never confirms the agent down. */
  closedByMaster?: string;
  /** Rejected: nothing more it sends is read (a second hello is never verified). */
  rejected?: boolean;
}

/** What the master measured of one agent's link (`/status` → agents[].link, metrics). */
export interface AgentLinkView {
  /** Smoothed round-trip time of pings (ms); null before the first exchange. */
  rttMs: number | null;
  /** The agent's clock minus the master's (ms), from the fastest recent exchange; null before the first. */
  clockSkewMs: number | null;
  /** How long the agent may now stay silent before it is dropped (ms). */
  livenessMs: number;
  /** When these were measured (the master's clock); the values stay after a disconnect. */
  at: number;
}

/** The capability of an agent that reads `deadlineInMs` (a deadline as a duration, immune to clock skew). */
export const RELATIVE_DEADLINE_CAPABILITY = 'relative-deadline';
const MAX_PINGS_IN_FLIGHT = 64;

/** The master's own part of its broadcasts (framing and the writes to every socket), for /status. */
export interface FanoutView {
  broadcasts: number;
  /** Agents the last broadcast went to. */
  lastAgents: number;
  lastMs: number | null;
  maxMs: number | null;
  /** The last broadcasts' durations (at most FANOUT_RECENT), oldest first. */
  recentMs: number[];
}

const FANOUT_RECENT = 64;

export class AgentServer {
  readonly rejections = new RejectionCounters();
  /** Rejections are logged rate-limited per code, with counts: a flood of bad peers is not a flood of lines. */
  private readonly rejectionLog: RefusalLog;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private workers: { flush(): void } | null = null;
  private readonly byAgent = new Map<string, Session>();
  /** The last measurements of each agent's link, kept after it disconnects. */
  private readonly links = new Map<string, AgentLinkView>();
  private readonly agentsById: Map<string, { id: string; group: string; tokenHash: string }>;
  /** The state revisions of this run, for `state-delta` agents. */
  private readonly stateStream = new StateStream();
  private _resyncs = 0;
  /** How long the master's own part of a broadcast took: framing and handing it to every socket. */
  private readonly fanout: FanoutView = {
    broadcasts: 0,
    lastAgents: 0,
    lastMs: null,
    maxMs: null,
    recentMs: [],
  };

  constructor(private readonly opts: AgentServerOptions) {
    // ws cuts frames far over the limit itself (1009); ones moderately over reach our decoder and get 4001
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxFramePayload,
      clientTracking: false,
    });
    this.agentsById = new Map(opts.agents.map((a) => [a.id, a]));
    this.rejectionLog = new RefusalLog(opts.logger, opts.clock);
  }

  /** Called by the HTTP server for an upgrade request on /ws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) =>
      this.acceptLink(new WsLink(ws), req.socket.remoteAddress, req.socket.remotePort),
    );
  }

  /**
   * Where links whose TLS runs in worker processes keep their broadcast copies until the loop over every
   * agent is done: each worker then gets the broadcast in one message (tls-worker/tls-worker-pool.ts).
   */
  attachWorkers(workers: { flush(): void }): void {
    this.workers = workers;
  }

  private get maxBytes(): number {
    return this.opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  /** The frame size ws cuts at (1009) by itself, here and in TLS workers: far over the limit our decoder answers (4001). */
  get maxFramePayload(): number {
    return this.maxBytes * 4;
  }

  private lookup(id: string): { id: string; group: string; tokenHash: string } | undefined {
    return this.opts.credentials ? this.opts.credentials().agents.get(id) : this.agentsById.get(id);
  }

  /** Closes connections whose token was revoked or whose group changed (after a tokens-file reload). */
  dropRevoked(creds: Credentials): void {
    for (const s of this.byAgent.values()) {
      const entry = creds.agents.get(s.agentId!);
      if (!entry || entry.group !== s.channelGroup) {
        this.reject(
          s,
          'AUTH_FAILED',
          CloseCodes.AUTH_FAILED,
          `token of agent "${s.agentId}" revoked or changed`,
        );
      }
    }
  }

  /** Agents this master knows (configured and from the tokens file): who may come back at once. */
  private fleetSize(): number {
    return this.opts.credentials ? this.opts.credentials().agents.size : this.agentsById.size;
  }

  connectedCount(): number {
    return this.byAgent.size;
  }

  /** Full states sent because an agent asked (`resync`: a delta did not follow what it held). */
  /**
   * The master's share of a fan-out (the agents' receiving is not in it): with TLS each socket's write
   * encrypts on this thread, so this grows with the fleet, whatever the message's size.
   */
  get fanoutView(): FanoutView {
    return { ...this.fanout, recentMs: [...this.fanout.recentMs] };
  }

  private timedFanout(send: () => number): void {
    const t0 = performance.now();
    const agents = send();
    const ms = Math.round((performance.now() - t0) * 1000) / 1000;
    this.fanout.broadcasts++;
    this.fanout.lastAgents = agents;
    this.fanout.lastMs = ms;
    this.fanout.maxMs = Math.max(this.fanout.maxMs ?? 0, ms);
    this.fanout.recentMs.push(ms);
    if (this.fanout.recentMs.length > FANOUT_RECENT) this.fanout.recentMs.shift();
  }

  get resyncs(): number {
    return this._resyncs;
  }

  /**
   * One state broadcast, framed once per kind of message: agents without STATE_DELTA_CAPABILITY get the full
   * state as always; `state-delta` agents the delta from the previous broadcast when they hold it, else the
   * full state with its revision (the first broadcast after a connect whose snapshot had moved on).
   */
  broadcastState(hub: HubSnapshot, policy: PolicyViewT): void {
    this.timedFanout(() => this.sendState(hub, policy));
  }

  private sendState(hub: HubSnapshot, policy: PolicyViewT): number {
    const picture = this.pictureOf(hub, policy);
    const step = this.stateStream.advance(picture);
    const now = this.opts.clock.now();
    let full: SharedFrame | undefined;
    let fullWithRev: SharedFrame | undefined;
    let delta: SharedFrame | undefined;
    let sent = 0;
    for (const s of this.byAgent.values()) {
      if (!s.link.isOpen) continue;
      sent++;
      if (!s.stateDelta) {
        full ??= new SharedFrame(encode(this.stateMessage(picture, undefined, now)));
        this.sendShared(s, full);
        continue;
      }
      if (step.delta !== null && s.stateRev === step.base) {
        delta ??= new SharedFrame(
          encode(
            envelop<StateDeltaMsg>(
              { type: 'state-delta', ups: picture.ups, rev: step.rev, base: step.base, ...step.delta },
              now,
            ),
          ),
        );
        this.sendShared(s, delta);
      } else {
        fullWithRev ??= new SharedFrame(encode(this.stateMessage(picture, step.rev, now)));
        this.sendShared(s, fullWithRev);
      }
      s.stateRev = step.rev;
    }
    this.workers?.flush();
    return sent;
  }

  broadcastEvent(event: PowerEvent, message: string): void {
    this.broadcast(
      envelop<EventMsg>(
        { type: 'event', ups: this.opts.snapshot().hub.ups, event, message },
        this.opts.clock.now(),
      ),
    );
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) {
      this.clearTimers(s);
      s.link.close(CloseCodes.MASTER_STOPPING, 'master stopping');
    }
    this.sessions.clear();
    this.byAgent.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private broadcast(msg: MasterMsg): void {
    this.timedFanout(() => {
      // encoded and framed once for the whole fleet
      const frame = new SharedFrame(encode(msg));
      let sent = 0;
      for (const s of this.byAgent.values()) {
        if (!s.link.isOpen) continue;
        this.sendShared(s, frame);
        sent++;
      }
      this.workers?.flush();
      return sent;
    });
  }

  /** A frame shared by many agents; a `seq` agent's copy gets its session and number spliced in (shared-frame.ts). */
  private sendShared(s: Session, frame: SharedFrame): void {
    const sid = s.sid;
    if (sid === null || s.lastSeq === null) {
      s.link.sendShared(frame, null);
      return;
    }
    s.link.sendShared(frame, { sid, seq: ++s.lastSeq });
  }

  /** The state agents see: variables sorted by name, the order a delta-built picture has too. */
  private pictureOf(hub: HubSnapshot, policy: PolicyViewT): StatePicture {
    return { ups: hub.ups, vars: sortedVars(hub.vars), stale: hub.stale, policy: { ...policy } };
  }

  private stateMessage(p: StatePicture, rev?: number, now = this.opts.clock.now()): StateMsg {
    return envelop<StateMsg>(
      {
        type: 'state',
        ups: p.ups,
        vars: p.vars as Record<string, string>,
        stale: p.stale,
        policy: p.policy,
        ...(rev === undefined ? {} : { rev }),
      },
      now,
    );
  }

  /** A new agent connection (upgraded here or in a TLS worker): it has the handshake timeout to say hello. */
  acceptLink(link: AgentLink, remoteAddress: string | undefined, remotePort: number | undefined): void {
    const address = `${remoteAddress ?? '?'}:${remotePort ?? 0}`;
    const session: Session = {
      link,
      address,
      ip: normalizeIp(remoteAddress),
      replay: new ReplayGuard(),
      channelGroup: null,
      agentId: null,
      channel: null,
      handshakeTimer: null,
      pingTimer: null,
      upgradedAt: this.opts.clock.now(),
      lastHeard: this.opts.clock.now(),
      pingsInFlight: [],
      rtt: new RttEstimator(),
      skew: new SkewEstimator(),
      skewWarned: false,
      sid: null,
      lastSeq: null,
      relativeDeadline: false,
      stateDelta: false,
      stateRev: null,
    };
    this.sessions.add(session);
    session.handshakeTimer = this.opts.clock.setTimer(this.opts.handshakeTimeoutMs ?? 30_000, () => {
      this.reject(session, 'AUTH_TIMEOUT', CloseCodes.AUTH_TIMEOUT, 'no hello in time');
    });
    const events: LinkEvents = {
      message: (raw, isBinary) => this.onMessage(session, raw, isBinary),
      close: (lostBy) => {
        if (lostBy !== undefined) session.closedByMaster ??= lostBy;
        this.onClose(session);
      },
      error: (code, err) => this.onLinkError(session, code, err),
    };
    link.bind(events);
  }

  /** Rate-limited with counters like every per-connection refusal on this port: a peer can provoke these. */
  private onLinkError(session: Session, code: string | undefined, err: Error): void {
    const address = session.address;
    // ws raises an error for an over-long frame before closing with 1009: count it like our own limit
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.rejections.add('PROTO_TOO_LARGE');
      this.rejectionLog.note(
        'PROTO_TOO_LARGE',
        { address, agentId: session.agentId, code: 'PROTO_TOO_LARGE' },
        'agent message too large, closing',
      );
      return;
    }
    this.rejectionLog.note(
      `connection-error-${code ?? 'unknown'}`,
      { address, agentId: session.agentId, err },
      'agent connection error',
    );
  }

  private onMessage(session: Session, raw: Buffer, isBinary: boolean): void {
    if (session.rejected) return;
    if (isBinary) {
      this.reject(
        session,
        'PROTO_MALFORMED',
        CloseCodes.MALFORMED,
        'binary frames are not part of the protocol',
      );
      return;
    }
    const decoded = decodeAgentMessage(raw, this.maxBytes);
    if (!decoded.ok) {
      this.reject(session, decoded.code, decoded.closeCode, decoded.reason);
      return;
    }
    const msg = decoded.msg;
    if (session.agentId === null && msg.type !== 'hello') {
      this.reject(session, 'PROTO_UNEXPECTED', CloseCodes.UNEXPECTED, `${msg.type} before hello`);
      return;
    }
    // no clock in this check: a skewed agent is measured (onPong) and served like any other
    const fresh = session.replay.check(msg);
    if (!fresh.ok) {
      this.reject(
        session,
        fresh.code,
        fresh.code === 'PROTO_REPLAY' ? CloseCodes.REPLAY : CloseCodes.STALE,
        fresh.reason,
      );
      return;
    }
    const now = this.opts.clock.now();
    session.lastHeard = now;
    if (session.agentId === null) {
      if (msg.type !== 'hello') {
        this.reject(session, 'PROTO_UNEXPECTED', CloseCodes.UNEXPECTED, `${msg.type} before hello`);
        return;
      }
      this.onHello(session, msg);
      return;
    }
    this.opts.registry.touch(session.agentId, now);
    switch (msg.type) {
      case 'hello':
        this.reject(session, 'PROTO_UNEXPECTED', CloseCodes.UNEXPECTED, 'second hello');
        return;
      case 'pong':
        this.onPong(session, msg.ts, now);
        return;
      case 'ack':
        this.opts.feedback.ack(session.agentId, msg);
        return;
      case 'progress':
        this.opts.feedback.progress(session.agentId, msg);
        return;
      case 'going-down':
        this.opts.feedback.goingDown(session.agentId, msg);
        return;
      case 'drill-report':
        this.opts.feedback.drillReport(session.agentId, msg);
        return;
      case 'supplies':
        this.opts.logger.info(
          { agentId: session.agentId, supplies: msg.supplies },
          "agent's supplies changed",
        );
        this.opts.registry.updateSupplies(session.agentId, msg.supplies);
        return;
      case 'resync':
        this.onResync(session, msg);
        return;
      case 'decline':
        this.opts.logger.warn(
          { agentId: session.agentId, orderId: msg.orderId, reason: msg.reason, supplies: msg.supplies },
          'agent declined its order: redundantly fed',
        );
        this.opts.registry.updateSupplies(session.agentId, msg.supplies);
        this.opts.feedback.decline?.(session.agentId, msg);
        return;
    }
  }

  private onHello(session: Session, msg: Extract<AgentMsg, { type: 'hello' }>): void {
    // an agent id failing from this address waits out its own backoff, without its neighbours (NAT)
    const gate = this.opts.guard?.mayTry(session.ip, msg.agentId) ?? { ok: true };
    if (!gate.ok) {
      this.reject(
        session,
        'RATE_LIMITED',
        CloseCodes.AUTH_FAILED,
        `agent "${msg.agentId}" failed to authenticate too often from this address; retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`,
      );
      return;
    }
    const entry = this.lookup(msg.agentId);
    // verify even for unknown ids, so timing does not tell which ids exist
    const tokenOk = verifyToken(msg.token, entry?.tokenHash ?? 'sha256:'.padEnd(71, '0'));
    if (!entry || !tokenOk) {
      const backoffMs = this.opts.guard?.authFailed(session.ip, msg.agentId) ?? 0;
      if (backoffMs > 0)
        this.rejectionLog.note(
          'auth-backoff',
          { ip: session.ip, agentId: msg.agentId, backoffMs, code: 'RATE_LIMITED' },
          'repeated failed authentications: refusing this agent id from this address for a while',
        );
      this.reject(session, 'AUTH_FAILED', CloseCodes.AUTH_FAILED, `agent "${msg.agentId}" not authenticated`);
      return;
    }
    if (entry.group !== msg.group) {
      this.reject(
        session,
        'AUTH_FORBIDDEN',
        CloseCodes.AUTH_FORBIDDEN,
        `agent "${msg.agentId}" claims group "${msg.group}" but its token grants "${entry.group}"`,
      );
      return;
    }
    session.handshakeTimer?.cancel();
    session.handshakeTimer = null;
    this.opts.guard?.authSucceeded(session.ip, entry.id);
    session.channelGroup = entry.group;
    if (!this.opts.registry.get(entry.id)) this.opts.registry.declare(entry.id, 'agent', entry.group);
    const previous = this.byAgent.get(entry.id);
    if (previous && previous !== session) {
      this.opts.logger.info(
        { agentId: entry.id, address: session.address },
        'agent reconnected; closing its old connection',
      );
      this.clearTimers(previous);
      if (previous.channel)
        this.opts.registry.disconnect(entry.id, previous.channel, {
          closedByMaster: 'replaced by a newer connection',
        });
      previous.agentId = null;
      previous.link.close(CloseCodes.REPLACED, 'replaced by a newer connection');
    }
    session.agentId = entry.id;
    this.byAgent.set(entry.id, session);
    const now = this.opts.clock.now();
    // the hello left the agent as our upgrade answer reached it: one round trip, and its clock at the middle
    session.rtt.sample(now - session.upgradedAt);
    session.skew.sample(msg.ts, session.upgradedAt, now);
    session.relativeDeadline = msg.capabilities.includes(RELATIVE_DEADLINE_CAPABILITY);
    session.stateDelta = msg.capabilities.includes(STATE_DELTA_CAPABILITY);
    let sid: string | undefined;
    if (msg.capabilities.includes(SEQ_CAPABILITY)) {
      // from the welcome on, both sides number their messages; the agent's must carry this connection's sid
      sid = randomBytes(16).toString('hex');
      session.replay.bind(sid);
      session.link.numbered(sid);
      session.sid = sid;
      session.lastSeq = 0;
    }
    const { hub, policy } = this.opts.snapshot();
    const step = this.opts.stepOf(entry.group);
    const spacingMs = this.opts.lostMasterSpacingMs;
    const welcome = envelop<WelcomeMsg>(
      {
        type: 'welcome',
        masterId: this.opts.masterId,
        ups: [hub.ups],
        group: entry.group,
        step,
        steps: this.opts.steps,
        pingIntervalMs: this.opts.pingIntervalMs,
        ...(spacingMs === undefined ? {} : { lostMasterDelayMs: lostMasterDelayMs(step, spacingMs) }),
        ...(sid === undefined ? {} : { sid }),
        ...(msg.capabilities.includes(RECONNECT_WINDOW_CAPABILITY)
          ? { reconnectWindowMs: reconnectWindowMs(this.fleetSize()) }
          : {}),
        // its guest presets may report each guest: this master keeps them (/status, drill report, dashboard)
        ...(msg.capabilities.includes(GUEST_PROGRESS_CAPABILITY) ? { guestProgress: true as const } : {}),
      },
      now,
    );
    this.send(session, welcome);
    // a connection always starts from a full state; a `state-delta` agent's carries the revision that the
    // next delta applies to (when the snapshot is still the last broadcast one: else it gets a full state next)
    const picture = this.pictureOf(hub, policy);
    if (session.stateDelta) {
      session.stateRev = this.stateStream.revisionOf(picture);
      const rev = session.stateRev ?? this.stateStream.current?.rev ?? 0;
      this.send(session, this.stateMessage(picture, rev, now));
    } else {
      this.send(session, this.stateMessage(picture, undefined, now));
    }
    const channel: MemberChannel = {
      sendOrder: (order: OrderMsg) =>
        this.send(
          session,
          session.relativeDeadline
            ? { ...order, deadlineInMs: Math.max(0, order.deadline - this.opts.clock.now()) }
            : order,
        ),
    };
    session.channel = channel;
    this.opts.logger.info(
      {
        agentId: entry.id,
        group: entry.group,
        version: msg.version,
        dryRun: msg.dryRun,
        address: session.address,
        ...(msg.supplies ? { supplies: msg.supplies } : {}),
      },
      'agent connected',
    );
    // registering may immediately re-send a pending order, so the snapshot goes first
    this.opts.registry.connect(
      {
        id: entry.id,
        kind: 'agent',
        group: entry.group,
        version: msg.version,
        dryRun: msg.dryRun,
        address: session.address,
        lastSeen: now,
        // for Wake-on-LAN when its early group was down and mains returned (master/wake)
        mac: macFromCapabilities(msg.capabilities),
        // a host fed by several UPSes: the master orders it only when its other supplies are short
        ...(msg.supplies ? { supplies: msg.supplies } : {}),
      },
      channel,
    );
    this.updateLink(session, now);
    this.warnSkew(session);
    // a first ping at once: the RTT and skew are known within one round trip, not one interval
    this.sendPing(session, now);
    this.schedulePing(session);
  }

  /**
   * A `state-delta` agent missed a revision (it should not happen on one TCP connection; a bug must not leave
   * it with a wrong picture): it gets the latest full state with its revision, and deltas from there on. A
   * fresh message each time (its id must not repeat on the connection), costing one encode: no more than
   * any other message an authenticated agent can make us answer.
   */
  private onResync(session: Session, msg: Extract<AgentMsg, { type: 'resync' }>): void {
    if (!session.stateDelta) {
      this.reject(
        session,
        'PROTO_UNEXPECTED',
        CloseCodes.UNEXPECTED,
        'resync without the state-delta capability',
      );
      return;
    }
    this._resyncs++;
    this.rejectionLog.note(
      'state-resync',
      {
        agentId: session.agentId,
        address: session.address,
        ups: msg.ups,
        have: msg.have,
        resyncs: this._resyncs,
      },
      'agent asked for a full state (a state delta did not follow the revision it holds)',
    );
    const current = this.stateStream.current;
    const { hub, policy } = this.opts.snapshot();
    const picture = current?.picture ?? this.pictureOf(hub, policy);
    const rev = current?.rev ?? this.stateStream.revisionOf(picture) ?? 0;
    this.send(session, this.stateMessage(picture, rev));
    session.stateRev = rev;
  }

  /** The last measurements of an agent's link (kept after it disconnected); undefined if never connected. */
  link(agentId: string): AgentLinkView | undefined {
    return this.links.get(agentId);
  }

  /** How long this session may stay silent before it is taken for dead. */
  private allowanceMs(session: Session): number {
    return livenessAllowanceMs(
      {
        pingIntervalMs: this.opts.pingIntervalMs,
        missedPongs: this.opts.missedPongs ?? DEFAULT_MISSED_PONGS,
        maxSilenceMs: this.opts.maxSilenceMs ?? DEFAULT_MAX_SILENCE_MS,
      },
      session.rtt.highMs,
    );
  }

  private sendPing(session: Session, now: number): void {
    if (session.pingsInFlight.length >= MAX_PINGS_IN_FLIGHT) session.pingsInFlight.shift();
    session.pingsInFlight.push(now);
    this.send(session, envelop({ type: 'ping' }, now));
  }

  /** A pong answers the oldest unanswered ping (pongs come back in order on the one stream). */
  private onPong(session: Session, peerTs: number, now: number): void {
    const sentAt = session.pingsInFlight.shift();
    if (sentAt === undefined) return; // unsolicited: it only proves the agent is alive
    session.rtt.sample(now - sentAt);
    session.skew.sample(peerTs, sentAt, now);
    this.updateLink(session, now);
    this.warnSkew(session);
  }

  private updateLink(session: Session, now: number): void {
    if (session.agentId === null) return;
    this.links.set(session.agentId, {
      rttMs: session.rtt.smoothedMs,
      clockSkewMs: session.skew.skewMs,
      livenessMs: this.allowanceMs(session),
      at: now,
    });
  }

  /** Once per connection: a clock far from ours is worth fixing (NTP), but it changes nothing here. */
  private warnSkew(session: Session): void {
    const skewMs = session.skew.skewMs;
    if (session.skewWarned || skewMs === null) return;
    if (Math.abs(skewMs) <= (this.opts.maxClockSkewMs ?? 30_000)) return;
    session.skewWarned = true;
    this.opts.logger.warn(
      {
        agentId: session.agentId,
        address: session.address,
        clockSkewMs: skewMs,
        rttMs: session.rtt.smoothedMs,
        code: 'CLOCK_SKEW',
      },
      `agent clock is ${Math.round(skewMs / 1000)} s ${skewMs > 0 ? 'ahead of' : 'behind'} the master's (check NTP); it is served as usual`,
    );
  }

  private schedulePing(session: Session): void {
    session.pingTimer = this.opts.clock.setTimer(this.opts.pingIntervalMs, () => {
      const now = this.opts.clock.now();
      const silentMs = now - session.lastHeard;
      const allowanceMs = this.allowanceMs(session);
      if (silentMs > allowanceMs) {
        this.opts.logger.warn(
          {
            agentId: session.agentId,
            address: session.address,
            silentMs,
            allowanceMs,
            rttMs: session.rtt.smoothedMs,
          },
          'agent silent for longer than its link allows (missed pings), terminating',
        );
        session.closedByMaster ??= 'missed pings';
        session.link.terminate();
        return;
      }
      this.sendPing(session, now);
      this.updateLink(session, now);
      this.schedulePing(session);
    });
  }

  private send(session: Session, msg: MasterMsg): void {
    if (!session.link.isOpen) return;
    if (session.sid === null || session.lastSeq === null) {
      session.link.send(encode(msg));
      return;
    }
    session.lastSeq++;
    session.link.send(encode({ ...msg, sid: session.sid, seq: session.lastSeq }));
  }

  private reject(
    session: Session,
    code: Parameters<RejectionCounters['add']>[0],
    closeCode: number,
    reason: string,
  ): void {
    const count = this.rejections.add(code);
    this.rejectionLog.note(
      code,
      { code, closeCode, reason, address: session.address, agentId: session.agentId, rejected: count },
      'rejected agent message, closing that connection',
    );
    this.clearTimers(session);
    session.closedByMaster ??= `rejected: ${code}`;
    session.rejected = true;
    session.link.close(closeCode, reason.slice(0, 120));
    // the close frame is on its way; a peer that ignores it (and keeps talking) would hold the socket for
    // ws's 30 s close timeout: the connection is over now
    setImmediate(() => session.link.terminate());
  }

  private clearTimers(session: Session): void {
    session.handshakeTimer?.cancel();
    session.pingTimer?.cancel();
    session.handshakeTimer = null;
    session.pingTimer = null;
  }

  private onClose(session: Session): void {
    this.clearTimers(session);
    this.sessions.delete(session);
    const id = session.agentId;
    if (id && this.byAgent.get(id) === session) {
      this.byAgent.delete(id);
      if (session.channel)
        this.opts.registry.disconnect(
          id,
          session.channel,
          session.closedByMaster === undefined ? {} : { closedByMaster: session.closedByMaster },
        );
      this.opts.logger.info({ agentId: id, address: session.address }, 'agent disconnected');
    }
  }
}
