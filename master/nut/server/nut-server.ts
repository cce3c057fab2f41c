/**
 * The NUT-compatible server: speaks upsd's network protocol 1.3 so stock NUT clients (upsmon, upsc,
 * Synology/QNAP/TrueNAS, Home Assistant, WinNUT) read the master's UPS and join the shutdown order.
 * Serves one UPS, `hub.upsName` (plus configured aliases). A primary's FSD latches server-wide, as in upsd.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Clock } from '../../../shared/clock.js';
import { splitHostPort } from '../../../shared/config/master-settings.js';
import type { NutServerConfigT, NutUserT } from '../../../shared/config/nut-server-schema.js';
import { parseDuration } from '../../../shared/duration.js';
import { UpsfleetError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { isLoopbackHost, normalizeIp } from '../../../shared/net/loopback.js';
import type { FleetRegistry } from '../../fleet/registry.js';
import { FdGate, readFdLimit } from '../../servers/fd-gate.js';
import type { Source } from '../../sources/source.js';
import type { StateHub } from '../../state/state-hub.js';
import { LoginBackoff } from './login-backoff.js';
import { NutSession } from './nut-session.js';
import { declaredNutMembers, NutUsers } from './nut-users.js';
import { RefusalLog } from './refusal-log.js';
import type { LoggedInClient, NutServerContext, TrackingState } from './server-context.js';

export const DEFAULT_NUT_IDLE_MS = 60_000;
export const DEFAULT_NUT_MAX_CONNECTIONS = 1024;
/** Default connections one address may hold: never all the slots (a quarter of them at most). */
export function defaultPerAddress(maxConnections: number): number {
  return Math.min(32, Math.max(1, Math.floor(maxConnections / 4)));
}
/** Longest command line accepted; a longer one is answered `ERR TOO-LONG` and discarded. */
export const NUT_MAX_LINE_LENGTH = 1024;
const MAX_TRACKED = 1000;

export interface NutServerOptions {
  config: NutServerConfigT;
  hub: StateHub;
  registry: FleetRegistry;
  source: Source;
  clock: Clock;
  logger: Logger;
  /** A NUT primary (or a user with `actions: [fsd]`) set FSD: the fleet is critical. */
  onFsd: (user: string, reason: string) => void;
  /** The master's key and certificate for STARTTLS; without them STARTTLS answers FEATURE-NOT-CONFIGURED. */
  tls?: { keyPem: string; certPem: string };
  /** The UPS description for LIST UPS / GET UPSDESC (default "upsfleet UPS"). */
  description?: string;
  /** Shown by VER. */
  version?: string;
  /** The soft file-descriptor limit (default: read from /proc/self/limits; null: unknown). */
  fdLimit?: number | null;
}

export class NutServer {
  private readonly server: Server;
  private readonly sessions = new Set<NutSession>();
  private readonly ctx: NutServerContext;
  private readonly idleMs: number;
  private readonly maxPerAddress: number;
  /** Open connections by client address. */
  private readonly perAddress = new Map<string, number>();
  private readonly refusals: RefusalLog;
  private readonly fdGate: FdGate;
  private readonly aliases: Set<string>;
  private fsd = false;
  private readonly ordered = new Set<string>();
  private readonly tracked = new Map<string, TrackingState>();

  constructor(private readonly opts: NutServerOptions) {
    const { config } = opts;
    this.idleMs =
      config.idleTimeout === undefined
        ? DEFAULT_NUT_IDLE_MS
        : parseDuration(config.idleTimeout, 'nut.idleTimeout');
    this.aliases = new Set(config.upsAliases ?? []);
    const log = opts.logger;
    const maxConnections = config.maxConnections ?? DEFAULT_NUT_MAX_CONNECTIONS;
    this.maxPerAddress = config.maxConnectionsPerAddress ?? defaultPerAddress(maxConnections);
    this.refusals = new RefusalLog(log, opts.clock);
    this.fdGate = new FdGate({
      limit: opts.fdLimit === undefined ? readFdLimit() : opts.fdLimit,
      logger: log,
      refuse: (fields) =>
        this.refusals.refused(
          'fd-exhausted',
          'NUT connection refused: out of file descriptors (clients already connected are served)',
          fields,
        ),
    });
    this.ctx = {
      hub: opts.hub,
      registry: opts.registry,
      source: opts.source,
      clock: opts.clock,
      logger: log,
      users: new NutUsers(config.users ?? []),
      loginBackoff: new LoginBackoff(opts.clock),
      refusals: this.refusals,
      description: opts.description ?? 'upsfleet UPS',
      version: opts.version ?? '0.1.0',
      hideLowBattery: config.hideLowBattery ?? true,
      allowPlaintextLogin: config.allowPlaintextLogin ?? false,
      ...(opts.tls
        ? {
            tls: createSecureContext({ key: opts.tls.keyPem, cert: opts.tls.certPem, minVersion: 'TLSv1.2' }),
          }
        : {}),
      isOurUps: (name) => name === opts.hub.upsName || this.aliases.has(name),
      listedUps: () => [opts.hub.upsName],
      fsdLatched: () => this.fsd,
      setFsd: (user, reason) => {
        if (!this.fsd) log.warn({ user, reason }, 'NUT client set FSD: every NUT client now sees FSD');
        this.fsd = true;
        opts.onFsd(user, reason);
      },
      logins: () => this.logins(),
      wasOrdered: (user, ip) => this.ordered.has(`${user}@${ip}`),
      markOrdered: (user, ip) => {
        this.ordered.add(`${user}@${ip}`);
      },
      tracking: {
        create: () => {
          const id = randomUUID();
          this.tracked.set(id, 'PENDING');
          if (this.tracked.size > MAX_TRACKED) this.tracked.delete(this.tracked.keys().next().value!);
          return id;
        },
        set: (id, state) => {
          if (this.tracked.has(id)) this.tracked.set(id, state);
        },
        get: (id) => this.tracked.get(id),
      },
    };
    this.declareUsers([], config.users ?? []);
    this.server = createServer((socket) => this.accept(socket));
    this.server.maxConnections = maxConnections;
    // Node closes connections past maxConnections itself: counted, not a line each
    this.server.on('drop', (data) =>
      this.refusals.refused('connections', 'NUT connection refused: maxConnections reached', {
        address: data?.remoteAddress,
        limit: maxConnections,
      }),
    );
  }

  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = splitHostPort(this.opts.config.listen);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(
          new UpsfleetError(
            'LISTEN_FAILED',
            `NUT server cannot listen on ${host}:${port}: ${err.message}`,
            { host, port },
            { cause: err },
          ),
        );
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    // accept errors (EMFILE at the fd limit) repeat for every waiting connection: counted, not logged each
    this.server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.fdGate.acceptFailed(err)) return;
      this.refusals.refused(`server-error-${err.code ?? 'unknown'}`, 'NUT server error', { err });
    });
    const addr = this.server.address();
    const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port };
    this.opts.logger.info({ ...bound, ups: this.opts.hub.upsName }, 'NUT server listening');
    this.logLoginPolicy(bound.host);
    return bound;
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Whether a NUT client set FSD (the latch; upsd clears it only on restart). */
  get fsdLatched(): boolean {
    return this.fsd;
  }

  /** Clear the FSD latch and remembered orders (a new sequence after a cancelled one). */
  resetFsd(): void {
    this.fsd = false;
    this.ordered.clear();
  }

  /** A reloaded `nut.users` (SIGHUP): new logins and commands are checked against it. */
  setUsers(users: readonly NutUserT[]): void {
    const before = this.ctx.users.all();
    this.ctx.users.replace(users);
    this.declareUsers(before, users);
  }

  /** Says at start how other hosts may log in (a password in clear from another host is refused unless allowed). */
  private logLoginPolicy(host: string): void {
    const log = this.opts.logger;
    if (this.ctx.allowPlaintextLogin) {
      log.warn(
        { allowPlaintextLogin: true, starttls: this.ctx.tls !== undefined },
        'nut.allowPlaintextLogin is on: NUT clients on other hosts may send their passwords in clear',
      );
    } else if (!isLoopbackHost(host)) {
      log.info(
        { starttls: this.ctx.tls !== undefined },
        'NUT logins from other hosts need STARTTLS (a password in clear from another host is refused)',
      );
    }
  }

  /** Refused connections and logins so far, by kind. */
  refusalCounts(): Record<string, number> {
    return this.refusals.totals();
  }

  /** Open connections (logged in or not). */
  get connectionCount(): number {
    return this.sessions.size;
  }

  /**
   * Users with a group are fleet members known in advance (offline until they log in); a reload drops
   * those no longer configured with that group (a member already in a running step keeps its place there).
   */
  private declareUsers(before: readonly NutUserT[], after: readonly NutUserT[]): void {
    const now = new Map(declaredNutMembers(after).map((m) => [m.id, m.group]));
    for (const old of declaredNutMembers(before))
      if (now.get(old.id) !== old.group) this.opts.registry.undeclare(old.id);
    for (const [id, group] of now) this.opts.registry.declare(id, 'nut', group);
  }

  private logins(): LoggedInClient[] {
    const out: LoggedInClient[] = [];
    for (const s of this.sessions)
      if (s.open && s.loginUps !== undefined) out.push({ ups: s.loginUps, ip: s.ip });
    return out;
  }

  private accept(socket: Socket): void {
    if (!this.fdGate.admit(socket)) {
      socket.on('error', () => {});
      socket.resetAndDestroy();
      return;
    }
    const ip = normalizeIp(socket.remoteAddress);
    const open = this.perAddress.get(ip) ?? 0;
    if (open >= this.maxPerAddress) {
      this.refusals.refused('connections-per-address', 'NUT connection refused: too many from this address', {
        address: ip,
        limit: this.maxPerAddress,
      });
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.perAddress.set(ip, open + 1);
    const session = new NutSession(
      socket,
      this.ctx,
      { idleMs: this.idleMs, maxLineLength: NUT_MAX_LINE_LENGTH },
      (s) => {
        this.sessions.delete(s);
        const left = (this.perAddress.get(ip) ?? 1) - 1;
        if (left > 0) this.perAddress.set(ip, left);
        else this.perAddress.delete(ip);
      },
    );
    this.sessions.add(session);
    this.opts.logger.debug({ client: session.address }, 'NUT client connected');
  }
}
