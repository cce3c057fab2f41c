/**
 * The master's one listener: HTTP (`GET /status`, admin `POST /api/...`) and the agent WebSocket on `/ws`.
 * Plain HTTP is only allowed on loopback; any other address is refused at start (TLS comes with trust).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { verifyToken } from '../../shared/auth/token.js';
import { type Clock, systemClock } from '../../shared/clock.js';
import { UpsfleetError } from '../../shared/errors.js';
import type { DashboardFile } from '../dashboard/dashboard-assets.js';
import { AddressGuard, normalizeIp } from './address-guard.js';
import type { AgentServer } from './agent-server.js';
import { FrontDoor } from './front-door.js';
import { isLoopbackHost } from './loopback.js';
import { RefusalLog } from './refusal-log.js';
import { guardStalls } from './stall-guard.js';
import { TlsWorkerPool, type TlsWorkerView } from './tls-worker/tls-worker-pool.js';

const MAX_BODY_BYTES = 16 * 1024;
/** A request's headers (or a WebSocket upgrade's) must be complete this soon after the connection is ready or the previous response ended. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** A request's body must be complete this soon after its headers. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

export interface AdminApi {
  /** POST /api/simulate {name, value}: set a variable on a simulated UPS. */
  simulate(name: string, value: string): Promise<void>;
  /** POST /api/fsd {reason}: make the fleet critical now. */
  fsd(reason: string): Promise<void>;
  /** POST /api/drill: run the sequence in drill mode. */
  drill(): Promise<{ runId: string } | undefined>;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  agentServer: AgentServer;
  admins: ReadonlyArray<{ name: string; tokenHash: string }>;
  status: () => unknown;
  /** GET /metrics (Prometheus text format); 404 without. */
  metrics?: { contentType: string; text(): Promise<string> };
  admin: AdminApi;
  /** Serve HTTPS/WSS with this key and certificate; null/undefined: plain, loopback only. */
  tls?: { keyPem: string; certPem: string } | null;
  /** Live admin tokens (tokens file + config); default `admins`. */
  credentials?: () => { admins: ReadonlyArray<{ name: string; tokenHash: string }> };
  /** Per-address connection and failed-auth limits (shared with the agent server). */
  guard?: AddressGuard;
  /** TLS handshake deadline (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Deadline for a request's headers (default DEFAULT_HEADERS_TIMEOUT_MS); also bounds an idle connection. */
  headersTimeoutMs?: number;
  /** Deadline for a request's body after its headers (default DEFAULT_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Timers of the connection deadlines (default the system clock). */
  clock?: Clock;
  /** The web dashboard at `/` and its live stream at `/live` (404 without). */
  dashboard?: DashboardOptions;
  /** Agent connections' TLS terminated in this many worker processes (TLS only; default 0: all here). */
  tlsWorkers?: number;
}

/** Who may watch: `open` anyone, `token` a viewer or admin token, `auto` open on loopback, a token from elsewhere. */
export type Viewing = 'auto' | 'token' | 'open';

export interface DashboardOptions {
  /** The built files by URL path; null: not built (the page answers 503 saying so). */
  files: Map<string, DashboardFile> | null;
  /** Serves one authorised viewer the live stream (Server-Sent Events) until it goes. */
  live: { attach(res: ServerResponse, viewer: { admin: boolean }): void };
  viewing: Viewing;
  /** Viewer tokens (admin tokens are viewer tokens too). */
  viewers: () => ReadonlyArray<{ name: string; tokenHash: string }>;
}

/** The page's own rules: scripts, styles and connections to this origin only (nothing from a CDN). */
const DASHBOARD_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export class HttpServer {
  private server: Server | null = null;
  private front: FrontDoor | null = null;
  private workers: TlsWorkerPool | null = null;
  private readonly refusals: RefusalLog;
  /** Connections that presented a wrong token: whatever else they send is not served. */
  private readonly failedAuth = new WeakSet<object>();

  constructor(private readonly opts: HttpServerOptions) {
    this.refusals = new RefusalLog(opts.logger, opts.clock ?? systemClock);
  }

  /**
   * Connections refused or closed on the main port, by kind, since start: out of file descriptors,
   * per-address limits, plain text on the TLS port, shed handshakes, stalled requests.
   */
  refusalCounts(): Record<string, number> {
    return this.refusals.counts();
  }

  async start(): Promise<{ host: string; port: number }> {
    const { host, port, logger } = this.opts;
    const tls = this.opts.tls ?? null;
    if (!tls && !isLoopbackHost(host)) {
      throw new UpsfleetError(
        'LISTEN_INSECURE',
        `master.listen ${host}:${port} is not a loopback address and TLS is not configured; listen on 127.0.0.1 or configure TLS`,
        { host, port },
      );
    }
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((err: unknown) => {
        logger.error({ err, url: req.url }, 'HTTP handler failed');
        if (!res.headersSent) this.json(res, 500, { error: 'internal error' });
      });
    };
    const server: Server = tls
      ? createHttpsServer(
          {
            key: tls.keyPem,
            cert: tls.certPem,
            minVersion: 'TLSv1.2',
            handshakeTimeout: this.opts.handshakeTimeoutMs ?? 10_000,
          },
          handler,
        )
      : createServer(handler);
    if (tls)
      server.on('tlsClientError', (err, socket) =>
        logger.debug({ err: err.message, ip: normalizeIp(socket.remoteAddress) }, 'TLS handshake failed'),
      );
    const guard =
      this.opts.guard ??
      new AddressGuard({
        clock: systemClock,
        connectionsPerAddress: 64,
        authFailures: 10,
        maxBackoffMs: 60_000,
      });
    if (!tls && (this.opts.tlsWorkers ?? 0) > 0)
      logger.warn(
        { tlsWorkers: this.opts.tlsWorkers, code: 'TLS_WORKERS_IGNORED' },
        'master.tlsWorkers is ignored: this master serves plain HTTP (no TLS to terminate)',
      );
    const workers = tls ? await this.startWorkers(tls) : null;
    const front = new FrontDoor({
      inner: server,
      tls: tls !== null,
      guard,
      logger,
      refusals: this.refusals,
      ...(workers ? { workers } : {}),
    });
    // Node's own header/request checks never run on this server (it does not listen): these do
    guardStalls(server, {
      tls: tls !== null,
      clock: this.opts.clock ?? systemClock,
      deadlines: {
        headersMs: this.opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
        requestMs: this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      },
      onStall: (kind, socket) =>
        this.refusals.note(
          `stalled-${kind}`,
          { ip: normalizeIp(socket.remoteAddress), code: 'CONNECTION_STALLED' },
          kind === 'headers'
            ? 'closed connections whose request headers did not arrive in time (idle or trickled)'
            : 'closed connections whose request body did not arrive in time',
        ),
    });
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname === '/ws') {
        this.opts.agentServer.handleUpgrade(req, socket, head);
      } else {
        socket.destroy();
      }
    });
    server.headersTimeout = this.opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    server.requestTimeout = this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      front.server.once('error', (err) =>
        reject(
          new UpsfleetError(
            'LISTEN_FAILED',
            `cannot listen on ${host}:${port}: ${err.message}`,
            { host, port },
            { cause: err },
          ),
        ),
      );
      front.server.listen(port, host, () => resolve());
    });
    front.watchAcceptErrors();
    this.server = server;
    this.front = front;
    const addr = front.server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    const front = this.front;
    this.server = null;
    this.front = null;
    if (!server) return;
    front?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => (front ? front.server.close(() => resolve()) : resolve()));
    await this.workers?.stop();
    this.workers = null;
  }

  /** The TLS worker processes (`master.tlsWorkers`), empty without. */
  tlsWorkerViews(): TlsWorkerView[] {
    return this.workers?.view() ?? [];
  }

  private async startWorkers(tls: { keyPem: string; certPem: string }): Promise<TlsWorkerPool | null> {
    const count = this.opts.tlsWorkers ?? 0;
    if (count <= 0) return null;
    const agents = this.opts.agentServer;
    const pool = new TlsWorkerPool({
      count,
      init: {
        keyPem: tls.keyPem,
        certPem: tls.certPem,
        handshakeTimeoutMs: this.opts.handshakeTimeoutMs ?? 10_000,
        headersTimeoutMs: this.opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
        maxPayload: agents.maxFramePayload,
      },
      accept: (link, address, port) => agents.acceptLink(link, address, port),
      logger: this.opts.logger.child({ module: 'tls-worker' }),
      refusals: this.refusals,
    });
    await pool.start();
    agents.attachWorkers(pool);
    this.workers = pool;
    this.opts.logger.info(
      { tlsWorkers: count, ready: pool.view().filter((w) => w.ready).length },
      'agent connections are terminated in TLS worker processes',
    );
    return pool;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // a request pipelined behind a failed authentication on the same connection is not served
    if (this.failedAuth.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/status') {
      this.json(res, 200, this.opts.status());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/metrics' && this.opts.metrics) {
      const text = await this.opts.metrics.text();
      res.writeHead(200, {
        'content-type': this.opts.metrics.contentType,
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') {
      this.json(res, 200, { ok: true });
      return;
    }
    const dashboard = this.opts.dashboard;
    if (dashboard && req.method === 'GET' && url.pathname === '/live') {
      if (req.headers.authorization && this.backedOff(req, res, 'viewer')) return;
      const viewer = this.authenticateViewer(req, dashboard);
      if (!viewer) {
        // a page opened without a token yet is not an attack: only a wrong token counts (and ends the connection)
        if (req.headers.authorization) this.authFailed(req, res, 'viewer');
        this.json(res, 401, {
          error: 'viewer token required (Authorization: Bearer <token>)',
          code: 'AUTH_FAILED',
        });
        return;
      }
      dashboard.live.attach(res, viewer);
      return;
    }
    if (dashboard && req.method === 'GET' && (url.pathname === '/' || /^\/[\w.-]+$/.test(url.pathname))) {
      const file = dashboard.files?.get(url.pathname);
      if (file) {
        res.writeHead(200, {
          ...DASHBOARD_HEADERS,
          'content-type': file.type,
          'content-length': file.body.length,
        });
        res.end(file.body);
        return;
      }
      if (url.pathname === '/') {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('the dashboard was not built (npm run build); GET /status still answers\n');
        return;
      }
    }
    if (req.method === 'POST' && url.pathname.startsWith('/api/')) {
      if (this.backedOff(req, res, 'admin')) return;
      const admin = this.authenticateAdmin(req);
      if (!admin) {
        this.authFailed(req, res, 'admin');
        this.json(res, 401, {
          error: 'admin token required (Authorization: Bearer <token>)',
          code: 'AUTH_FAILED',
        });
        return;
      }
      this.opts.guard?.authSucceeded(normalizeIp(req.socket.remoteAddress), 'admin');
      const body = await this.readJson(req, res);
      if (body === undefined) return;
      await this.adminAction(url.pathname, body, admin, res);
      return;
    }
    this.json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }

  /**
   * A failed token ends its connection: counted against the address and this kind of token, the answer
   * says `connection: close`, and nothing pipelined behind it is served.
   */
  private authFailed(req: IncomingMessage, res: ServerResponse, identity: 'admin' | 'viewer'): void {
    this.opts.guard?.authFailed(normalizeIp(req.socket.remoteAddress), identity);
    this.failedAuth.add(req.socket);
    res.shouldKeepAlive = false;
    res.setHeader('connection', 'close');
  }

  /** Answers 429 and ends the connection while this address's tokens of this kind are backed off. */
  private backedOff(req: IncomingMessage, res: ServerResponse, identity: 'admin' | 'viewer'): boolean {
    const gate = this.opts.guard?.mayTry(normalizeIp(req.socket.remoteAddress), identity) ?? { ok: true };
    if (gate.ok) return false;
    this.failedAuth.add(req.socket);
    res.shouldKeepAlive = false;
    res.setHeader('connection', 'close');
    res.setHeader('retry-after', String(Math.ceil(gate.retryAfterMs / 1000)));
    this.json(res, 429, {
      error: 'too many failed authentications from this address; retry later',
      code: 'RATE_LIMITED',
    });
    return true;
  }

  private async adminAction(path: string, body: Record<string, unknown>, admin: string, res: ServerResponse) {
    const log = this.opts.logger;
    try {
      if (path === '/api/simulate') {
        if (typeof body.name !== 'string' || typeof body.value !== 'string') {
          this.json(res, 400, { error: 'body must be {"name": string, "value": string}', code: 'CLI_USAGE' });
          return;
        }
        log.info({ admin, name: body.name, value: body.value }, 'admin set a simulated variable');
        await this.opts.admin.simulate(body.name, body.value);
      } else if (path === '/api/fsd') {
        const reason = typeof body.reason === 'string' ? body.reason : `FSD by admin ${admin}`;
        log.warn({ admin, reason }, 'admin forced shutdown');
        await this.opts.admin.fsd(reason);
      } else if (path === '/api/drill') {
        log.info({ admin }, 'admin started a drill');
        const started = await this.opts.admin.drill();
        this.json(res, 200, { ok: true, ...(started ?? {}) });
        return;
      } else {
        this.json(res, 404, { error: `no admin action ${path}` });
        return;
      }
      this.json(res, 200, { ok: true });
    } catch (err) {
      const code = err instanceof UpsfleetError ? err.code : 'INTERNAL';
      this.json(res, 400, { error: (err as Error).message, code });
    }
  }

  /** null: refused. Admin tokens see everything a viewer token does, and may act. */
  private authenticateViewer(req: IncomingMessage, d: DashboardOptions): { admin: boolean } | null {
    if (this.authenticateAdmin(req)) return { admin: true };
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m && d.viewers().some((v) => verifyToken(m[1]!, v.tokenHash))) return { admin: false };
    if (d.viewing === 'open') return { admin: false };
    if (d.viewing === 'auto' && isLoopbackHost(normalizeIp(req.socket.remoteAddress)))
      return { admin: false };
    return null;
  }

  private authenticateAdmin(req: IncomingMessage): string | null {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return null;
    const admins = this.opts.credentials ? this.opts.credentials().admins : this.opts.admins;
    const admin = admins.find((a) => verifyToken(m[1]!, a.tokenHash));
    return admin?.name ?? null;
  }

  private async readJson(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Record<string, unknown> | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        this.json(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes`, code: 'PROTO_TOO_LARGE' });
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8').trim();
    if (!text) return {};
    try {
      const v: unknown = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // fall through to the 400 below
    }
    this.json(res, 400, { error: 'body is not a JSON object', code: 'PROTO_MALFORMED' });
    return undefined;
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body, null, 2);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}
