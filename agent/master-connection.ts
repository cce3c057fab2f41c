/**
 * The agent's WebSocket link to the master. Tries the configured URLs in turn, says `hello` on open,
 * validates every inbound message (an invalid one is counted and closes the link with its close code),
 * answers `ping` with `pong`, and reconnects with jittered backoff after any close. A master that goes
 * silent for three ping intervals plus twice the round trip measured from hello to welcome is treated as
 * gone (a half-open TCP link would otherwise hide an outage from the local safety policy; a slow one is
 * not a dead one). Nothing here compares the master's clock with ours: its skew is only measured and
 * logged. With a master that gives a session id in its welcome, both sides number their messages
 * (shared/protocol/replay-guard.ts).
 *
 * State deltas (`state-delta` capability, shared/protocol/state-delta.ts): the master sends one full state
 * per connection and then only what changed; this link rebuilds each full state and hands it on as a
 * `state` message, so the agent above never sees a delta. A delta that does not follow the revision held
 * (a master bug: TCP loses nothing) is dropped, the last good picture kept, and the link asks for a full
 * state (`resync`) instead of reconnecting: a reconnect would count as losing the master (the local
 * deadtime starts while on battery, the master may take the close for a confirmation, and the reconnect
 * waits out a jittered backoff), while a resync costs one round trip on the open link. Deltas already on
 * the way are dropped too until the full state comes; the request is repeated for a later delta if no
 * answer came within RESYNC_RETRY_MS.
 *
 * Reconnects (docs/NETWORK.md): the first retry's jitter window is at least the one the master advised
 * in its last welcome (sized by its fleet, so a restart does not bring every agent back in the same
 * second); no wait lasts past the moment the local shutdown would fire (`deadline`); and lastAttempt()
 * makes one bounded attempt right before it does.
 */
import { isIP, type NetConnectOpts, connect as netConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import type { Clock, TimerHandle } from '../shared/clock.js';
import { DEFAULT_PING_INTERVAL_MS } from '../shared/config/defaults.js';
import { UpsfleetError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { AGENT_ALPN } from '../shared/protocol/agent-alpn.js';
import { decodeMasterMessage, encode, envelop } from '../shared/protocol/codec.js';
import {
  DEFAULT_MAX_SILENCE_MS,
  livenessAllowanceMs,
  RttEstimator,
  skewSampleMs,
} from '../shared/protocol/link-timing.js';
import {
  type AgentMsg,
  CloseCodes,
  type HelloMsg,
  MAX_MESSAGE_BYTES,
  type MasterMsg,
  RECONNECT_WINDOW_CAPABILITY,
  STATE_DELTA_CAPABILITY,
} from '../shared/protocol/messages.js';
import { ReplayGuard, SEQ_CAPABILITY } from '../shared/protocol/replay-guard.js';
import { StateFollower } from '../shared/protocol/state-delta.js';
import { fingerprintForHumans, fingerprintOfDer } from '../shared/tls/fingerprint.js';
import { Backoff } from './backoff.js';
import { boundTcpConnect } from './connect-deadline.js';

/** Any constructor producing a ws-compatible client socket (ws itself by default). */
export type WebSocketImpl = new (address: string, options?: WebSocket.ClientOptions) => WebSocket;

/** An outbound message without its envelope (v, id, ts are added on send). */
export type AgentBody = AgentMsg extends unknown ? DistributiveOmit<AgentMsg, 'v' | 'id' | 'ts'> : never;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type HelloFields = Omit<HelloMsg, 'v' | 'id' | 'ts' | 'type'>;

export interface DisconnectInfo {
  url: string;
  code: number;
  reason: string;
  /** Whether the link had opened (false: the connection attempt itself failed). */
  wasOpen: boolean;
}

export interface MasterTlsTrust {
  /** Pinned `sha256:<hex>` certificate fingerprints: the master must present one of them. */
  fingerprints: readonly string[];
  /** PEM CA bundle the master's certificate must chain to (hostname checked). */
  caPem?: string;
}

export interface MasterConnectionOptions {
  /** The URLs to try in turn; a function for discovered masters (re-read on every attempt; may be empty). */
  urls: readonly string[] | (() => readonly string[]);
  /** How wss:// masters are verified; without pins or CA, the system CAs (never no verification). */
  tls?: MasterTlsTrust;
  /** A master presented a certificate that is not pinned (the connection was refused). */
  onPinMismatch?: (url: string, presented: string) => void;
  hello: HelloFields;
  reconnect: { initialMs: number; maxMs: number };
  clock: Clock;
  logger: Logger;
  WebSocket?: WebSocketImpl;
  /** For the backoff jitter; injectable for tests. */
  random?: () => number;
  /** Capabilities that depend on the connection, from its local address (the `wol:` MAC of that interface). */
  linkCapabilities?: (localAddress: string | undefined) => string[];
  /** When the local shutdown fires (epoch ms), or null: no reconnect wait lasts past it. */
  deadline?: () => number | null;
  onMessage: (msg: MasterMsg) => void;
  onConnected?: (url: string) => void;
  onDisconnected?: (info: DisconnectInfo) => void;
}

type Phase = 'idle' | 'connecting' | 'open' | 'waiting' | 'suspended' | 'stopped';

/**
 * The TCP connect alone: 40 s lets a 10 s round trip (a crawling link during an outage) through, and a
 * master that answers nothing (unplugged) is left for the next URL after that long.
 */
const TCP_CONNECT_TIMEOUT_MS = 40_000;
/**
 * The longest the master may stay silent during the opening (ws's handshakeTimeout is a socket silence
 * timeout: TCP, TLS handshake, HTTP upgrade). Longer than the master's handshake queue budget
 * (DEFAULT_QUEUE_BUDGET_MS, 80 s) plus a 10 s round trip: an agent queued by a master taking back a
 * whole fleet is served in its turn instead of giving up and coming back as one more attempt.
 */
const OPENING_SILENCE_MS = 100_000;
/** Between our hello and the master's welcome: one round trip plus the master's work. */
const WELCOME_WAIT_MS = 40_000;
const SILENCE_PINGS = 3;
/** Our clock further than this from the master's is worth a warning (it changes nothing). */
const SKEW_WARN_MS = 30_000;
const CLOSE_WAIT_MS = 2_000;
/** A resync not answered by then is asked again at the next delta that does not apply. */
const RESYNC_RETRY_MS = 5_000;
/** A WebSocket close reason is at most 123 bytes. */
const MAX_CLOSE_REASON = 120;

const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCodes.AUTH_FAILED, CloseCodes.AUTH_FORBIDDEN]);

export class MasterConnection {
  private phase: Phase = 'idle';
  private ws: WebSocket | null = null;
  private urlIndex = 0;
  private readonly backoff: Backoff;
  private readonly WS: WebSocketImpl;
  private retryTimer: TimerHandle | null = null;
  private silenceTimer: TimerHandle | null = null;
  private silenceMs = SILENCE_PINGS * DEFAULT_PING_INTERVAL_MS;
  /** Round trips measured from hello to welcome, across connections. */
  private readonly rtt = new RttEstimator();
  private _clockSkewMs: number | null = null;
  /** Of the current connection: when it opened (our hello left), its welcome, its session and our last seq. */
  private openedAt = 0;
  private welcomed = false;
  private sid: string | null = null;
  private seq = 0;
  private inbound = new ReplayGuard();
  /** The state pictures of the current connection, rebuilt from deltas; per UPS, when we last asked for a resync. */
  private states = new StateFollower();
  private resyncAskedAt = new Map<string, number>();
  private _stateGaps = 0;
  private closeWaiters: (() => void)[] = [];
  private _lastContact: number | null = null;
  private _invalidMessages = 0;
  private _connects = 0;
  /** When the current connection attempt started (for lastAttempt). */
  private attemptStartedAt = 0;
  /** lastAttempt() callers: told true on a welcome, false when the attempt closes. */
  private welcomeWaiters: ((welcomed: boolean) => void)[] = [];

  constructor(private readonly opts: MasterConnectionOptions) {
    if (Array.isArray(opts.urls) && opts.urls.length === 0)
      throw new Error('MasterConnection needs at least one URL');
    this.WS = opts.WebSocket ?? WebSocket;
    this.backoff = new Backoff({ ...opts.reconnect, ...(opts.random ? { random: opts.random } : {}) });
  }

  get connected(): boolean {
    return this.phase === 'open';
  }

  /** Epoch ms of the last message from (or opening of) the master link; null before the first. */
  get lastContact(): number | null {
    return this._lastContact;
  }

  /** Inbound messages rejected by validation since start. */
  get invalidMessages(): number {
    return this._invalidMessages;
  }

  /** State deltas that did not follow the revision held (each dropped, and a full state asked for). */
  get stateGaps(): number {
    return this._stateGaps;
  }

  /** Successful opens since start. */
  get connects(): number {
    return this._connects;
  }

  /** Smoothed round trip hello → welcome (ms); null before the first welcome. */
  get rttMs(): number | null {
    return this.rtt.smoothedMs;
  }

  /** The master's clock minus ours (ms), measured at the last welcome; null before it. */
  get clockSkewMs(): number | null {
    return this._clockSkewMs;
  }

  get url(): string {
    const urls = this.urls();
    return urls[this.urlIndex % Math.max(urls.length, 1)] ?? '';
  }

  private urls(): readonly string[] {
    const u = this.opts.urls;
    return typeof u === 'function' ? u() : u;
  }

  /**
   * ws options: every socket's TCP connect is bounded (connect-deadline.ts); for a wss:// URL the CA, or
   * no chain check but a pin check right after the TLS handshake.
   */
  private tlsOptions(url: string): WebSocket.ClientOptions {
    if (!url.startsWith('wss:')) {
      return {
        createConnection: (options: NetConnectOpts & { socketPath?: string }) =>
          boundTcpConnect(
            netConnect({ ...options, path: options.socketPath } as NetConnectOpts),
            TCP_CONNECT_TIMEOUT_MS,
          ),
      } as WebSocket.ClientOptions;
    }
    const pins = this.opts.tls?.fingerprints ?? [];
    const caPem = this.opts.tls?.caPem;
    return {
      ...(caPem ? { ca: caPem } : {}),
      // with a pin and no CA, the self-signed chain is not checked: the pin is the check (like an SSH host key)
      ...(pins.length > 0 ? { rejectUnauthorized: caPem !== undefined } : {}),
      createConnection: (options: ConnectionOptions & { path?: string; host?: string }) => {
        const o = { ...options, path: undefined } as ConnectionOptions;
        if (!o.servername && o.servername !== '') o.servername = isIP(options.host ?? '') ? '' : options.host;
        // our name first, so a master with TLS workers terminates this connection there; http/1.1 is what is used
        o.ALPNProtocols = [AGENT_ALPN, 'http/1.1'];
        const socket: TLSSocket = boundTcpConnect(tlsConnect(o), TCP_CONNECT_TIMEOUT_MS);
        if (pins.length === 0) return socket;
        socket.once('secureConnect', () => {
          const presented = fingerprintOfDer(socket.getPeerCertificate(false).raw);
          if (!pins.includes(presented)) {
            socket.destroy(
              new UpsfleetError(
                'TLS_PIN_MISMATCH',
                "the master's certificate does not match the pinned fingerprint",
                {
                  presented,
                  pinned: [...pins],
                },
              ),
            );
          }
        });
        return socket;
      },
    } as WebSocket.ClientOptions;
  }

  start(): void {
    if (this.phase !== 'idle') return;
    this.connect();
  }

  /**
   * Sends a message once the master welcomed us on this link; returns false (message dropped) otherwise.
   * Nothing is lost by waiting: a master re-sends a pending order on connect, and the executor answers it again.
   */
  send(body: AgentBody): boolean {
    const ws = this.ws;
    if (this.phase !== 'open' || !this.welcomed || !ws || ws.readyState !== WebSocket.OPEN) return false;
    const msg = envelop<AgentMsg>(body, this.opts.clock.now());
    ws.send(encode(this.sid === null ? msg : { ...msg, sid: this.sid, seq: ++this.seq }));
    return true;
  }

  /** Graceful close for good (1000 by default); resolves once the socket closed (or after a short cap). */
  stop(code: number = CloseCodes.NORMAL, reason = 'agent stopping'): Promise<void> {
    return this.closeAndHold('stopped', code, reason);
  }

  /** Close and do not reconnect until resume() (used once the power-off command started). */
  suspend(code: number = CloseCodes.GOING_AWAY, reason = 'powering off'): Promise<void> {
    if (this.phase === 'stopped') return Promise.resolve();
    return this.closeAndHold('suspended', code, reason);
  }

  resume(): void {
    if (this.phase !== 'suspended') return;
    this.opts.logger.info('reconnecting to the master');
    this.connect();
  }

  /**
   * One last attempt before the local shutdown: resolves true once the master welcomes us, false when the
   * attempt fails or budgetMs passes. A wait between retries is cut short; an attempt already in flight is
   * kept if it started within budgetMs (it may be about to succeed), else replaced by a fresh one.
   */
  lastAttempt(budgetMs: number): Promise<boolean> {
    if (this.phase === 'open' && this.welcomed) return Promise.resolve(true);
    if (this.phase === 'stopped' || this.phase === 'suspended' || this.phase === 'idle')
      return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (welcomed: boolean) => {
        if (done) return;
        done = true;
        timer.cancel();
        this.welcomeWaiters = this.welcomeWaiters.filter((w) => w !== finish);
        resolve(welcomed);
      };
      const timer = this.opts.clock.setTimer(budgetMs, () => finish(false));
      this.welcomeWaiters.push(finish);
      const now = this.opts.clock.now();
      if (this.phase === 'waiting') {
        this.retryTimer?.cancel();
        this.opts.logger.info({ url: this.url, budgetMs }, 'last attempt to reach the master');
        this.connect();
      } else if (this.phase === 'connecting' && now - this.attemptStartedAt > budgetMs) {
        // an old attempt (a SYN into a cut link, a stuck handshake): start afresh, the link may be back
        const stale = this.ws;
        this.ws = null;
        stale?.terminate();
        this.opts.logger.info({ url: this.url, budgetMs }, 'last attempt to reach the master (fresh)');
        this.connect();
      }
      // connecting recently, or open and waiting for the welcome: that attempt is the last one
    });
  }

  private closeAndHold(phase: 'stopped' | 'suspended', code: number, reason: string): Promise<void> {
    this.phase = phase;
    this.retryTimer?.cancel();
    this.retryTimer = null;
    this.silenceTimer?.cancel();
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const cap = this.opts.clock.setTimer(CLOSE_WAIT_MS, () => {
        ws.terminate();
        resolve();
      });
      this.closeWaiters.push(() => {
        cap.cancel();
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason.slice(0, MAX_CLOSE_REASON));
    });
  }

  private connect(): void {
    this.retryTimer = null;
    this.phase = 'connecting';
    this.attemptStartedAt = this.opts.clock.now();
    const url = this.url;
    const log = this.opts.logger;
    if (!url) {
      // discovery has found no (trusted) master yet
      this.phase = 'waiting';
      const delay = this.backoff.next(this.timeLeftMs());
      log.info({ retryInMs: delay }, 'no master found yet; waiting for discovery');
      this.retryTimer = this.opts.clock.setTimer(delay, () => {
        if (this.phase === 'waiting') this.connect();
      });
      return;
    }
    if (url.startsWith('ws:')) log.warn({ url }, 'plain ws:// (no TLS): acceptable on loopback only');
    log.debug({ url, attempt: this.backoff.attempts }, 'connecting to the master');
    let ws: WebSocket;
    try {
      ws = new this.WS(url, {
        maxPayload: MAX_MESSAGE_BYTES,
        handshakeTimeout: OPENING_SILENCE_MS,
        ...this.tlsOptions(url),
      });
    } catch (err) {
      log.error({ err, url }, 'cannot connect to this master URL');
      this.scheduleReconnect({ url, code: 1006, reason: (err as Error).message, wasOpen: false });
      return;
    }
    this.ws = ws;
    let wasOpen = false;

    ws.on('open', () => {
      if (this.ws !== ws) return;
      wasOpen = true;
      if (this.phase !== 'connecting') {
        ws.close(CloseCodes.NORMAL, 'agent stopping');
        return;
      }
      this.phase = 'open';
      this._connects++;
      this._lastContact = this.opts.clock.now();
      this.openedAt = this._lastContact;
      this.welcomed = false;
      this.sid = null;
      this.seq = 0;
      this.inbound = new ReplayGuard();
      // every connection starts from the full state the master sends after its welcome
      this.states = new StateFollower();
      this.resyncAskedAt.clear();
      // until the welcome: a round trip on a link that may be slow, not three ping intervals
      this.silenceMs = WELCOME_WAIT_MS;
      this.armSilenceWatch(ws);
      log.info({ url }, 'connected to the master');
      const local = (ws as unknown as { _socket?: { localAddress?: string } })._socket?.localAddress;
      const capabilities = [
        ...new Set([
          ...this.opts.hello.capabilities,
          SEQ_CAPABILITY,
          RECONNECT_WINDOW_CAPABILITY,
          STATE_DELTA_CAPABILITY,
          ...(this.opts.linkCapabilities?.(local) ?? []),
        ]),
      ];
      ws.send(
        encode(envelop<HelloMsg>({ type: 'hello', ...this.opts.hello, capabilities }, this.opts.clock.now())),
      );
      this.safely(() => this.opts.onConnected?.(url));
    });

    ws.on('message', (data: WebSocket.RawData) => {
      if (this.ws !== ws || this.phase !== 'open') return;
      this._lastContact = this.opts.clock.now();
      this.armSilenceWatch(ws);
      const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const decoded = decodeMasterMessage(raw);
      if (!decoded.ok) {
        this._invalidMessages++;
        log.warn(
          {
            url,
            code: decoded.code,
            closeCode: decoded.closeCode,
            reason: decoded.reason,
            invalid: this._invalidMessages,
          },
          'invalid message from the master; closing the link',
        );
        ws.close(decoded.closeCode, decoded.reason.slice(0, MAX_CLOSE_REASON));
        return;
      }
      let msg = decoded.msg;
      // ids must not repeat; once the welcome gave a session, the master's seq must grow. Never a clock.
      const fresh = this.inbound.check(msg);
      if (!fresh.ok) {
        this._invalidMessages++;
        log.warn(
          { url, code: fresh.code, reason: fresh.reason, invalid: this._invalidMessages },
          'replayed or re-ordered message from the master; closing the link',
        );
        ws.close(
          fresh.code === 'PROTO_REPLAY' ? CloseCodes.REPLAY : CloseCodes.STALE,
          fresh.reason.slice(0, MAX_CLOSE_REASON),
        );
        return;
      }
      if (msg.type === 'welcome') {
        // a welcome means the master accepted us: only now does the backoff start over
        this.backoff.reset();
        // the master's advice for spreading the fleet's next reconnect (absent from older masters)
        this.backoff.setWindow(msg.reconnectWindowMs ?? 0);
        this.onWelcome(msg, msg.sid);
        this.armSilenceWatch(ws);
        for (const w of this.welcomeWaiters.splice(0)) w(true);
      } else if (msg.type === 'ping') {
        this.send({ type: 'pong' });
      } else if (msg.type === 'state') {
        this.states.onState(msg);
        this.resyncAskedAt.delete(msg.ups);
        log.debug({ msgType: msg.type, ups: msg.ups, rev: msg.rev ?? null }, 'full state from the master');
      } else if (msg.type === 'state-delta') {
        const followed = this.states.onDelta(msg);
        log.debug(
          { msgType: msg.type, ups: msg.ups, rev: msg.rev, base: msg.base },
          'state delta from the master',
        );
        if (followed.kind === 'gap') {
          this.onStateGap(followed);
          return;
        }
        msg = followed.state;
      }
      const handed = msg;
      this.safely(() => this.opts.onMessage(handed));
    });

    ws.on('error', (err: Error & { code?: string }) => {
      if (this.ws !== ws) return;
      if (err instanceof UpsfleetError && err.code === 'TLS_PIN_MISMATCH') {
        const presented = String(err.details.presented);
        log.error(
          {
            url,
            code: err.code,
            presented,
            pinned: err.details.pinned,
            presentedOpenssl: fingerprintForHumans(presented),
          },
          `refusing the master at ${url}: its certificate ${presented} does not match the pinned master.fingerprint ${(err.details.pinned as string[]).join(', ')}`,
        );
        this.safely(() => this.opts.onPinMismatch?.(url, presented));
        return;
      }
      if (url.startsWith('wss:') && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(err.code ?? '')) {
        log.error(
          { url, code: 'TLS_VERIFY_FAILED', tlsError: err.code, reason: err.message },
          "the master's certificate did not verify; pin it with master.fingerprint (from `upsfleet keygen`) or give master.ca",
        );
        return;
      }
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this._invalidMessages++;
        log.warn(
          { url, code: 'PROTO_TOO_LARGE' },
          `message from the master larger than ${MAX_MESSAGE_BYTES} bytes`,
        );
        return;
      }
      log.debug({ url, err: err.message, errCode: err.code }, 'master link error');
    });

    ws.on('close', (code: number, reasonBuf: Buffer) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.silenceTimer?.cancel();
      const info: DisconnectInfo = { url, code, reason: reasonBuf.toString('utf8'), wasOpen };
      const waiters = this.closeWaiters.splice(0);
      for (const w of waiters) w();
      for (const w of this.welcomeWaiters.splice(0)) w(false);
      if (wasOpen) {
        log.warn({ url, code, reason: info.reason }, 'disconnected from the master');
        this.safely(() => this.opts.onDisconnected?.(info));
      }
      if (this.phase === 'stopped' || this.phase === 'suspended') return;
      this.scheduleReconnect(info);
    });
  }

  private onStateGap(gap: Extract<ReturnType<StateFollower['onDelta']>, { kind: 'gap' }>): void {
    this._stateGaps++;
    const now = this.opts.clock.now();
    const askedAt = this.resyncAskedAt.get(gap.ups);
    const ask = askedAt === undefined || now - askedAt >= RESYNC_RETRY_MS;
    this.opts.logger.warn(
      {
        url: this.url,
        ups: gap.ups,
        have: gap.have,
        base: gap.base,
        rev: gap.rev,
        reason: gap.why,
        stateGaps: this._stateGaps,
        resync: ask,
      },
      'state delta does not follow the state we hold: dropped, keeping the last full state until the master sends one',
    );
    if (ask && this.send({ type: 'resync', ups: gap.ups, have: gap.have }))
      this.resyncAskedAt.set(gap.ups, now);
  }

  private scheduleReconnect(info: DisconnectInfo): void {
    const log = this.opts.logger;
    let delay: number;
    if (AUTH_CLOSE_CODES.has(info.code)) {
      log.error(
        {
          url: info.url,
          closeCode: info.code,
          reason: info.reason,
          code: info.code === CloseCodes.AUTH_FAILED ? 'AUTH_FAILED' : 'AUTH_FORBIDDEN',
        },
        "the master refused this agent's token; check agent.token / tokenFile (retrying at the slowest pace)",
      );
      delay = this.backoff.max(this.timeLeftMs());
    } else {
      delay = this.backoff.next(this.timeLeftMs());
    }
    // a failed attempt or a refusal moves on to the next master; a dropped link retries the same one first
    if (!info.wasOpen || AUTH_CLOSE_CODES.has(info.code)) {
      this.urlIndex = (this.urlIndex + 1) % Math.max(this.urls().length, 1);
    }
    if (!info.wasOpen) {
      log.info(
        { url: info.url, reason: info.reason || `close ${info.code}`, retryInMs: delay, next: this.url },
        'master not reachable; will retry',
      );
    } else {
      log.info({ retryInMs: delay, next: this.url }, 'reconnecting to the master');
    }
    this.phase = 'waiting';
    this.retryTimer = this.opts.clock.setTimer(delay, () => {
      if (this.phase === 'waiting') this.connect();
    });
  }

  /** Time left before the local shutdown fires (the backoff never waits past it); undefined when none is due. */
  private timeLeftMs(): number | undefined {
    const at = this.opts.deadline?.();
    return at === null || at === undefined ? undefined : Math.max(0, at - this.opts.clock.now());
  }

  private onWelcome(msg: Extract<MasterMsg, { type: 'welcome' }>, sid: string | undefined): void {
    const now = this.opts.clock.now();
    this.welcomed = true;
    if (sid !== undefined) {
      this.sid = sid;
      this.inbound.bind(sid);
    }
    this.rtt.sample(now - this.openedAt);
    this._clockSkewMs = skewSampleMs(msg.ts, this.openedAt, now);
    this.silenceMs = livenessAllowanceMs(
      {
        pingIntervalMs: msg.pingIntervalMs,
        missedPongs: SILENCE_PINGS - 1,
        maxSilenceMs: DEFAULT_MAX_SILENCE_MS,
      },
      this.rtt.highMs,
    );
    if (Math.abs(this._clockSkewMs) > SKEW_WARN_MS) {
      this.opts.logger.warn(
        { url: this.url, masterClockSkewMs: this._clockSkewMs, rttMs: this.rtt.smoothedMs },
        `the master's clock is ${Math.round(Math.abs(this._clockSkewMs) / 1000)} s ${this._clockSkewMs > 0 ? 'ahead of' : 'behind'} ours (check NTP); nothing depends on it`,
      );
    }
  }

  private armSilenceWatch(ws: WebSocket): void {
    this.silenceTimer?.cancel();
    this.silenceTimer = this.opts.clock.setTimer(this.silenceMs, () => {
      if (this.ws !== ws || this.phase !== 'open') return;
      this.opts.logger.warn(
        { url: this.url, silentMs: this.silenceMs },
        'no message from the master; dropping the link',
      );
      ws.terminate();
    });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.error({ err }, 'master message handler failed');
    }
  }
}
