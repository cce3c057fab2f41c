/**
 * One client connection of the NUT server: line framing, commands answered strictly in order, the
 * idle timer, and the client's membership in the fleet (registered at LOGIN, confirmed down when it
 * logs out or closes its connection after its order; a shutdown order makes FSD visible to it). A close
 * the master makes (idle timer, stop) is never the client's confirmation, and a client shown its order
 * is never dropped for silence: a frozen upsmon stays "no confirmation yet" until its step's deadline.
 */
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { TimerHandle } from '../../../shared/clock.js';
import type { NutUserT } from '../../../shared/config/nut-server-schema.js';
import { isLoopbackHost, normalizeIp } from '../../../shared/net/loopback.js';
import type { OrderMsg } from '../../../shared/protocol/messages.js';
import { type MemberChannel, SECONDARIES_GROUP } from '../../fleet/registry.js';
import { NutErr } from '../protocol/err-codes.js';
import { LineSplitter } from '../protocol/line-splitter.js';
import { tokenizeLine } from '../protocol/tokenize.js';
import { runCommand } from './nut-commands.js';
import { nutMemberId } from './nut-users.js';
import type { NutServerContext } from './server-context.js';
import type { ViewOptions } from './ups-view.js';

export interface SessionLimits {
  idleMs: number;
  maxLineLength: number;
}

/** Lines read ahead of the one being answered; past this the connection is not read until they are answered. */
export const NUT_MAX_PIPELINED_LINES = 64;
/** Replies not yet taken by the client: past this, no further command is answered until it reads them. */
export const NUT_OUTPUT_HIGH_WATER = 64 * 1024;
/** A client whose unread replies pass this is dropped (one reply can exceed the high-water mark, not this). */
export const NUT_OUTPUT_LIMIT = 1024 * 1024;

/** A line read ahead: the command, or `null` for a line that was too long (answered ERR TOO-LONG). */
type PendingLine = string | null;

export class NutSession {
  readonly ip: string;
  readonly port: number;
  username: string | undefined;
  password: string | undefined;
  /** The UPS name given to LOGIN, once logged in. */
  loginUps: string | undefined;
  tracking = false;
  private memberId: string | undefined;
  private channel: MemberChannel | undefined;
  private ordered = false;
  /** Logged in as a user with an upsfleet group (a planned step of the sequence). */
  private grouped = false;
  private closed = false;
  /** Why the master closed this connection itself (idle, stopping, a TCP timeout); undefined: the client did. */
  private closedByMaster: string | undefined;
  private silentAfterOrderLogged = false;
  /** Set by a failed authentication: the connection ends once the reply is out. */
  private ending: string | undefined;
  private idle: TimerHandle | undefined;
  /** Lines read and not answered yet, in order; bounded by pausing the socket (backpressure). */
  private pending: PendingLine[] = [];
  private answering = false;
  private splitter: LineSplitter;

  constructor(
    private socket: Socket,
    readonly ctx: NutServerContext,
    private readonly limits: SessionLimits,
    private readonly onClosed: (s: NutSession) => void,
  ) {
    this.ip = normalizeIp(socket.remoteAddress);
    this.port = socket.remotePort ?? 0;
    this.splitter = this.newSplitter();
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('drain', () => this.answer());
    socket.on('error', (err) => this.onSocketError(err, 'NUT client socket error'));
    socket.on('close', () => this.handleClose());
    this.armIdle();
  }

  get address(): string {
    return this.ip.includes(':') ? `[${this.ip}]:${this.port}` : `${this.ip}:${this.port}`;
  }

  get loggedIn(): boolean {
    return this.loginUps !== undefined;
  }

  /** FSD shows in this client's ups.status: the server-wide latch, or its own shutdown step came. */
  seesFsd(): boolean {
    return this.ordered || this.ctx.fsdLatched();
  }

  /** How this client sees ups.status: FSD once its step came; LB held back before that if it has a group. */
  view(): ViewOptions {
    return { fsd: this.seesFsd(), hideLowBattery: this.grouped && this.ctx.hideLowBattery };
  }

  /** Whether STARTTLS upgraded this connection. */
  get secure(): boolean {
    return this.socket instanceof TLSSocket;
  }

  /** Whether credentials may be given here: inside TLS, from loopback, or anywhere when the operator allows it. */
  get mayLogIn(): boolean {
    return this.secure || this.fromLoopback || this.ctx.allowPlaintextLogin;
  }

  get fromLoopback(): boolean {
    return isLoopbackHost(this.ip);
  }

  /** STARTTLS: after `OK STARTTLS` went out in clear, the same connection continues inside TLS. */
  startTls(secureContext: SecureContext): void {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('drain');
    // plaintext the client sent after STARTTLS (read ahead, or half a line) never runs inside TLS
    const dropped = this.pending.length;
    this.pending = [];
    this.splitter = this.newSplitter();
    if (dropped > 0)
      this.ctx.logger.debug(
        { client: this.address, lines: dropped },
        'NUT plaintext after STARTTLS discarded',
      );
    raw.resume();
    const tls = new TLSSocket(raw, { isServer: true, secureContext });
    tls.setEncoding('utf8');
    tls.on('data', (chunk: string) => this.onData(chunk));
    tls.on('drain', () => this.answer());
    tls.on('error', (err) => {
      this.onSocketError(err, 'NUT client TLS error');
      tls.destroy();
    });
    this.socket = tls;
  }

  /** Writes one reply (one line, or a whole LIST joined by `\n`) in a single write. */
  send(reply: string): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(`${reply}\n`);
  }

  get open(): boolean {
    return !this.closed;
  }

  /** LOGOUT: the member leaves the fleet now (confirmed down), then the connection closes. */
  logout(): void {
    this.leaveFleet();
    this.closed = true;
    this.idle?.cancel();
    this.socket.end();
    // a client that never closes its side must not keep the socket
    this.ctx.clock.setTimer(5_000, () => this.socket.destroy());
  }

  /** Close the connection once the current command's reply is written (a failed authentication). */
  endAfterReply(why: string): void {
    this.ending ??= why;
  }

  /** Drop the connection now (idle shedding, server stop): the master's doing, never the client's confirmation. */
  destroy(why = 'stopping'): void {
    this.closedByMaster ??= why;
    this.closed = true;
    this.socket.destroy();
  }

  /** LOGIN accepted: join the fleet as a member of the user's group. */
  login(ups: string, user: NutUserT): void {
    this.loginUps = ups;
    // a user with a group is the member known in advance, unless another session of that user holds it
    const declared = nutMemberId(user.name);
    const id =
      user.group !== undefined && !this.ctx.registry.isConnected(declared)
        ? declared
        : nutMemberId(user.name, this.address);
    this.memberId = id;
    this.ordered = this.ctx.wasOrdered(user.name, this.ip);
    this.grouped = user.group !== undefined;
    const channel: MemberChannel = {
      sendOrder: (order: OrderMsg) => {
        // a stock NUT client cannot rehearse: showing it FSD in a drill would really shut its host down
        if (order.drill) {
          this.ctx.logger.info({ member: id, orderId: order.orderId }, 'drill: NUT client not shown FSD');
          return;
        }
        if (!this.ordered) {
          this.ctx.logger.info(
            { member: id, orderId: order.orderId, step: order.step },
            'NUT client ordered down: it now sees FSD',
          );
        }
        this.ordered = true;
        this.ctx.markOrdered(user.name, this.ip);
      },
    };
    this.channel = channel;
    this.ctx.registry.connect(
      {
        id,
        kind: 'nut',
        group: user.group ?? SECONDARIES_GROUP,
        version: null,
        dryRun: false,
        address: this.address,
        lastSeen: this.ctx.clock.now(),
      },
      channel,
    );
    this.ctx.logger.info({ member: id, group: user.group ?? SECONDARIES_GROUP, ups }, 'NUT client logged in');
  }

  private armIdle(): void {
    this.idle?.cancel();
    if (this.closed) return;
    this.idle = this.ctx.clock.setTimer(this.limits.idleMs, () => {
      if (this.ordered && this.channel) {
        // dropping it would end its membership on the master's own timer: it stays, unconfirmed
        if (!this.silentAfterOrderLogged)
          this.ctx.logger.warn(
            { client: this.address, member: this.memberId },
            'NUT client silent after its order: kept connected, not confirmed down (its step waits up to its deadline)',
          );
        this.silentAfterOrderLogged = true;
        this.armIdle();
        return;
      }
      this.ctx.logger.info({ client: this.address, member: this.memberId }, 'NUT client idle: dropping it');
      this.destroy('idle');
    });
  }

  private onSocketError(err: Error, msg: string): void {
    // the kernel giving up on a silent peer is a timer too, not the client closing
    if ((err as NodeJS.ErrnoException).code === 'ETIMEDOUT') this.closedByMaster ??= 'TCP timeout';
    this.ctx.logger.debug({ err, client: this.address }, msg);
  }

  /** The reply is out: close gracefully (nothing more is read or answered), destroy if the client lingers. */
  private endNow(why: string): void {
    this.closedByMaster ??= why;
    this.closed = true;
    this.pending = [];
    this.idle?.cancel();
    this.socket.end();
    this.ctx.clock.setTimer(5_000, () => this.socket.destroy());
  }

  private newSplitter(): LineSplitter {
    return new LineSplitter(
      this.limits.maxLineLength,
      (line) => this.pending.push(line),
      () => this.pending.push(null),
    );
  }

  private onData(chunk: string): void {
    this.splitter.push(chunk);
    // a client reading none of our replies, or pipelining faster than we answer, is not read further
    if (this.pending.length >= NUT_MAX_PIPELINED_LINES) this.socket.pause();
    this.answer();
  }

  private get outputFull(): boolean {
    return this.socket.writableLength > NUT_OUTPUT_HIGH_WATER;
  }

  /** Answers the pending lines in order while the client takes its replies; resumes reading when done. */
  private answer(): void {
    if (this.answering || this.closed) return;
    this.answering = true;
    void this.answerPending().finally(() => {
      this.answering = false;
    });
  }

  private async answerPending(): Promise<void> {
    while (this.pending.length > 0 && !this.closed) {
      if (this.socket.writableLength > NUT_OUTPUT_LIMIT) {
        this.ctx.logger.info(
          { client: this.address, unread: this.socket.writableLength },
          'NUT client does not read its replies: dropping it',
        );
        this.destroy('replies not read');
        return;
      }
      if (this.outputFull) {
        // not read further either (its end of input included) until it takes its replies; 'drain' resumes
        this.socket.pause();
        return;
      }
      const line = this.pending.shift()!;
      // idle is the time since the last whole command: bytes trickled without a newline keep nothing alive
      this.armIdle();
      if (line === null) this.send(`ERR ${NutErr.TOO_LONG}`);
      else await this.handleLine(line);
      if (this.ending !== undefined) return this.endNow(this.ending);
    }
    if (!this.closed && this.pending.length === 0 && !this.outputFull) this.socket.resume();
  }

  private async handleLine(line: string): Promise<void> {
    if (this.closed) return;
    const words = tokenizeLine(line);
    if (words === null) {
      this.send(`ERR ${NutErr.INVALID_ARGUMENT}`);
      return;
    }
    if (words.length === 0) return;
    if (this.memberId) this.ctx.registry.touch(this.memberId, this.ctx.clock.now());
    try {
      await runCommand(this, words);
    } catch (err) {
      this.ctx.logger.error(
        { err, client: this.address, command: words[0] },
        'NUT command failed unexpectedly',
      );
      this.send(`ERR ${NutErr.INVALID_ARGUMENT}`);
    }
  }

  private handleClose(): void {
    this.closed = true;
    this.idle?.cancel();
    this.leaveFleet();
    this.onClosed(this);
  }

  private leaveFleet(): void {
    if (this.memberId && this.channel) {
      const byMaster = this.closedByMaster;
      // after seeing FSD (its order, or a primary's latch) leaving is going down, even before its step;
      // a close the master made is not the client leaving
      const sawFsd = byMaster === undefined && this.seesFsd() ? this.ctx.clock.now() : undefined;
      this.ctx.registry.disconnect(
        this.memberId,
        this.channel,
        byMaster !== undefined
          ? { closedByMaster: byMaster }
          : sawFsd !== undefined
            ? { leftAfterFsdAt: sawFsd }
            : {},
      );
      this.ctx.logger.info(
        { member: this.memberId, closedByMaster: byMaster },
        byMaster === undefined
          ? 'NUT client left (logout or connection closed)'
          : 'NUT client dropped by the master',
      );
      // one that was neither ordered nor saw FSD is just gone (a reload, a blip): its next login is a new member
      if (!this.ordered && sawFsd === undefined) this.ctx.registry.forget(this.memberId);
    }
    this.channel = undefined;
  }
}
