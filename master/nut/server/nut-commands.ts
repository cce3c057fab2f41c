/**
 * The upsd network protocol 1.3 command set, answered for one session: each handler checks its
 * arguments, credentials and the UPS name in the order upsd does and writes the exact reply lines.
 */
import type { NutUserT } from '../../../shared/config/nut-server-schema.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import type { HubSnapshot } from '../../state/state-hub.js';
import { quote } from '../protocol/encode.js';
import { NutErr, type NutErrCode } from '../protocol/err-codes.js';
import { describeCommand, describeVariable } from './descriptions.js';
import type { NutSession } from './nut-session.js';
import { type NutAction, NutUsers } from './nut-users.js';
import { clientVars, typeWords, unavailable, type ViewOptions } from './ups-view.js';

export const PROTOCOL_VERSION = '1.3';
const HELP = 'Commands: HELP VER PROTVER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS';

type Handler = (s: NutSession, args: string[]) => void | Promise<void>;

function err(s: NutSession, code: NutErrCode): void {
  s.send(`ERR ${code}`);
}

/**
 * USERNAME-REQUIRED, PASSWORD-REQUIRED or ACCESS-DENIED, else the authenticated user. A wrong user or
 * password, or a user and address in backoff, also closes the connection after the reply: one try per
 * connection, and the next try waits for the backoff of that address and user.
 */
function authorize(s: NutSession, action: NutAction, cmd?: string): NutUserT | NutErrCode {
  if (s.username === undefined) return NutErr.USERNAME_REQUIRED;
  if (s.password === undefined) return NutErr.PASSWORD_REQUIRED;
  const { loginBackoff, refusals } = s.ctx;
  if (!s.mayLogIn) {
    // cannot happen through PASSWORD (refused in clear); kept so that no path authenticates in clear
    s.endAfterReply('password in clear');
    return NutErr.ACCESS_DENIED;
  }
  const wait = loginBackoff.waitMs(s.ip, s.username);
  if (wait > 0) {
    refusals.refused(
      'login-backoff',
      'NUT authentication refused: too many failures for this user from this address',
      {
        client: s.address,
        user: s.username,
        retryAfterMs: wait,
      },
    );
    s.endAfterReply('authentication backoff');
    return NutErr.ACCESS_DENIED;
  }
  const user = s.ctx.users.authenticate(s.username, s.password);
  if (!user) {
    const backoffMs = loginBackoff.failed(s.ip, s.username);
    refusals.refused('login-failed', 'NUT authentication failed: wrong user or password, connection closed', {
      client: s.address,
      user: s.username,
      backoffMs,
    });
    s.endAfterReply('failed authentication');
    return NutErr.ACCESS_DENIED;
  }
  loginBackoff.succeeded(s.ip, s.username);
  if (!NutUsers.allows(user, action, cmd)) {
    refusals.refused('not-allowed', 'NUT command refused: the user may not do it', {
      client: s.address,
      user: user.name,
      action,
    });
    return NutErr.ACCESS_DENIED;
  }
  return user;
}

function credentialsMissing(s: NutSession): NutErrCode | null {
  if (s.username === undefined) return NutErr.USERNAME_REQUIRED;
  if (s.password === undefined) return NutErr.PASSWORD_REQUIRED;
  return null;
}

function writable(s: NutSession, name: string) {
  return s.ctx.source.writableVariables().find((w) => w.name === name);
}

// ---- session and authentication ----

const username: Handler = (s, args) => {
  if (args.length !== 1 || args[0] === '') return err(s, NutErr.INVALID_ARGUMENT);
  if (s.username !== undefined) return err(s, NutErr.ALREADY_SET_USERNAME);
  s.username = args[0];
  s.send('OK');
};

/** A password in clear from another host: refused and the connection closed (STARTTLS first, or the opt-in). */
function refuseInClear(s: NutSession): void {
  s.ctx.refusals.refused(
    'login-in-clear',
    'NUT password in clear from another host refused: the client must use STARTTLS (or set nut.allowPlaintextLogin)',
    { client: s.address, user: s.username, tlsOffered: s.ctx.tls !== undefined },
  );
  s.endAfterReply('password in clear');
  err(s, NutErr.ACCESS_DENIED);
}

const password: Handler = (s, args) => {
  if (args.length !== 1) return err(s, NutErr.INVALID_ARGUMENT);
  if (!s.mayLogIn) return refuseInClear(s);
  if (s.password !== undefined) return err(s, NutErr.ALREADY_SET_PASSWORD);
  s.password = args[0];
  s.send('OK');
};

const login: Handler = (s, args) => {
  if (args.length !== 1) return err(s, NutErr.INVALID_ARGUMENT);
  const missing = credentialsMissing(s);
  if (missing) return err(s, missing);
  if (s.loggedIn) return err(s, NutErr.ALREADY_LOGGED_IN);
  const ups = args[0]!;
  if (!s.ctx.isOurUps(ups)) return err(s, NutErr.UNKNOWN_UPS);
  const user = authorize(s, 'LOGIN');
  if (typeof user === 'string') return err(s, user);
  s.login(ups, user);
  s.send('OK');
};

const logout: Handler = (s) => {
  s.send('OK Goodbye');
  s.logout();
};

const primary =
  (reply: string): Handler =>
  (s, args) => {
    if (args.length !== 1) return err(s, NutErr.INVALID_ARGUMENT);
    const missing = credentialsMissing(s);
    if (missing) return err(s, missing);
    if (!s.ctx.isOurUps(args[0]!)) return err(s, NutErr.UNKNOWN_UPS);
    const user = authorize(s, 'PRIMARY');
    if (typeof user === 'string') return err(s, user);
    s.send(`OK ${reply}`);
  };

const fsd: Handler = (s, args) => {
  if (args.length !== 1) return err(s, NutErr.INVALID_ARGUMENT);
  const missing = credentialsMissing(s);
  if (missing) return err(s, missing);
  if (!s.ctx.isOurUps(args[0]!)) return err(s, NutErr.UNKNOWN_UPS);
  const user = authorize(s, 'FSD');
  if (typeof user === 'string') return err(s, user);
  s.ctx.setFsd(user.name, `FSD set by NUT client ${user.name}@${s.ip}`);
  s.send('OK FSD-SET');
};

const starttls: Handler = (s) => {
  const context = s.ctx.tls;
  if (!context) return err(s, NutErr.FEATURE_NOT_CONFIGURED);
  if (s.secure) return err(s, NutErr.ALREADY_SSL_MODE);
  s.send('OK STARTTLS');
  s.startTls(context);
};

// ---- GET ----

const get: Handler = (s, args) => {
  const [what, ups, name, ...extra] = args;
  const kind = what?.toUpperCase();
  if (kind === 'TRACKING') return getTracking(s, args.slice(1));
  if (kind === undefined || ups === undefined) return err(s, NutErr.INVALID_ARGUMENT);
  const oneArg = kind === 'NUMLOGINS' || kind === 'UPSDESC';
  if (oneArg ? name !== undefined : name === undefined || extra.length > 0)
    return err(s, NutErr.INVALID_ARGUMENT);
  if (!['NUMLOGINS', 'UPSDESC', 'VAR', 'TYPE', 'DESC', 'CMDDESC'].includes(kind)) {
    return err(s, NutErr.INVALID_ARGUMENT);
  }
  if (!s.ctx.isOurUps(ups)) return err(s, NutErr.UNKNOWN_UPS);
  switch (kind) {
    case 'NUMLOGINS':
      return s.send(`NUMLOGINS ${ups} ${s.ctx.logins().length}`);
    case 'UPSDESC':
      return s.send(`UPSDESC ${ups} ${quote(s.ctx.description)}`);
    case 'DESC':
      return s.send(`DESC ${ups} ${name} ${quote(describeVariable(name!))}`);
    case 'CMDDESC':
      return s.send(`CMDDESC ${ups} ${name} ${quote(describeCommand(name!))}`);
  }
  const snap = s.ctx.hub.snapshot();
  const down = unavailable(snap);
  if (down) return err(s, down);
  const vars = clientVars(snap, s.view());
  const value = vars[name!];
  const rw = writable(s, name!);
  if (kind === 'VAR') {
    if (value === undefined) return err(s, NutErr.VAR_NOT_SUPPORTED);
    return s.send(`VAR ${ups} ${name} ${quote(value)}`);
  }
  // TYPE
  if (value === undefined && !rw) return err(s, NutErr.VAR_NOT_SUPPORTED);
  s.send(`TYPE ${ups} ${name} ${typeWords(value, rw).join(' ')}`);
};

function getTracking(s: NutSession, args: string[]): void {
  if (args.length === 0) {
    s.send(s.tracking ? 'ON' : 'OFF');
    return;
  }
  const state = args.length === 1 ? s.ctx.tracking.get(args[0]!) : undefined;
  if (state === undefined) err(s, NutErr.INVALID_ARGUMENT);
  else s.send(state);
}

// ---- LIST ----

/** A whole LIST reply goes out in one write: a line per write costs a segment (and a delayed ACK) each. */
function list(s: NutSession, query: string, lines: string[]): void {
  s.send(listReply(query, lines));
}

function listReply(query: string, lines: string[]): string {
  return [`BEGIN LIST ${query}`, ...lines, `END LIST ${query}`].join('\n');
}

/**
 * LIST VAR replies by hub snapshot (a new object on every change, never mutated) and by what the client
 * sees of it: pollers ask the same question many times between two changes, and the reply is the same text.
 * Only names of our own UPS reach it, and a snapshot's replies go with it.
 */
const listVarReplies = new WeakMap<HubSnapshot, Map<string, string>>();

function listVarReply(snap: HubSnapshot, view: ViewOptions, ups: string): string {
  let bySnap = listVarReplies.get(snap);
  if (!bySnap) {
    bySnap = new Map();
    listVarReplies.set(snap, bySnap);
  }
  const key = `${ups}\n${JSON.stringify(view)}`;
  let reply = bySnap.get(key);
  if (reply === undefined) {
    const vars = clientVars(snap, view);
    const lines = Object.keys(vars)
      .sort()
      .map((k) => `VAR ${ups} ${k} ${quote(vars[k]!)}`);
    reply = listReply(`VAR ${ups}`, lines);
    bySnap.set(key, reply);
  }
  return reply;
}

const listCmd: Handler = (s, args) => {
  const [what, ups, name, ...extra] = args;
  const kind = what?.toUpperCase();
  if (kind === 'UPS') {
    if (args.length !== 1) return err(s, NutErr.INVALID_ARGUMENT);
    return list(
      s,
      'UPS',
      s.ctx.listedUps().map((u) => `UPS ${u} ${quote(s.ctx.description)}`),
    );
  }
  const needsVar = kind === 'ENUM' || kind === 'RANGE';
  if (!['VAR', 'RW', 'CMD', 'CLIENT', 'ENUM', 'RANGE'].includes(kind ?? ''))
    return err(s, NutErr.INVALID_ARGUMENT);
  if (ups === undefined || extra.length > 0 || (needsVar ? name === undefined : name !== undefined)) {
    return err(s, NutErr.INVALID_ARGUMENT);
  }
  if (!s.ctx.isOurUps(ups)) return err(s, NutErr.UNKNOWN_UPS);
  if (kind === 'CLIENT') {
    const ips = s.ctx
      .logins()
      .filter((c) => s.ctx.isOurUps(c.ups))
      .map((c) => `CLIENT ${ups} ${c.ip}`);
    return list(s, `CLIENT ${ups}`, ips);
  }
  const snap = s.ctx.hub.snapshot();
  const down = unavailable(snap);
  if (down) return err(s, down);
  const view = s.view();
  if (kind === 'VAR') return s.send(listVarReply(snap, view, ups));
  const vars = clientVars(snap, view);
  switch (kind) {
    case 'RW':
      return list(
        s,
        `RW ${ups}`,
        s.ctx.source
          .writableVariables()
          .map((w) => w.name)
          .sort()
          .map((k) => `RW ${ups} ${k} ${quote(vars[k] ?? '')}`),
      );
    case 'CMD':
      return list(
        s,
        `CMD ${ups}`,
        [...s.ctx.source.commands()].sort().map((c) => `CMD ${ups} ${c}`),
      );
  }
  const rw = writable(s, name!);
  if (!rw && vars[name!] === undefined) return err(s, NutErr.VAR_NOT_SUPPORTED);
  if (kind === 'ENUM') {
    return list(
      s,
      `ENUM ${ups} ${name}`,
      (rw?.enum ?? []).map((v) => `ENUM ${ups} ${name} ${quote(v)}`),
    );
  }
  const ranges = rw?.range ? [rw.range] : [];
  list(
    s,
    `RANGE ${ups} ${name}`,
    ranges.map((r) => `RANGE ${ups} ${name} ${quote(String(r.min))} ${quote(String(r.max))}`),
  );
};

// ---- SET and INSTCMD ----

/** Runs `work` and answers OK / ERR, or with tracking on answers OK TRACKING <id> at once. */
async function perform(s: NutSession, failure: NutErrCode, work: () => Promise<void>): Promise<void> {
  const toCode = (e: unknown): NutErrCode => {
    if (isUpsfleetError(e, 'SOURCE_COMMAND_UNSUPPORTED')) return NutErr.CMD_NOT_SUPPORTED;
    if (isUpsfleetError(e, 'SOURCE_VARIABLE_READONLY')) return NutErr.READONLY;
    return failure;
  };
  if (s.tracking) {
    const id = s.ctx.tracking.create();
    s.send(`OK TRACKING ${id}`);
    work().then(
      () => s.ctx.tracking.set(id, 'SUCCESS'),
      (e: unknown) => s.ctx.tracking.set(id, `ERR ${toCode(e)}`),
    );
    return;
  }
  try {
    await work();
    s.send('OK');
  } catch (e) {
    s.ctx.logger.warn({ err: e, client: s.address }, 'NUT client request failed at the source');
    err(s, toCode(e));
  }
}

function validValue(rw: NonNullable<ReturnType<typeof writable>>, value: string): boolean {
  if (rw.type === 'ENUM') return (rw.enum ?? []).includes(value);
  const n = Number(value);
  if (rw.type === 'NUMBER') return value.trim() !== '' && Number.isFinite(n);
  if (rw.type === 'RANGE') {
    if (value.trim() === '' || !Number.isFinite(n)) return false;
    return !rw.range || (n >= rw.range.min && n <= rw.range.max);
  }
  return true;
}

const set: Handler = async (s, args) => {
  const kind = args[0]?.toUpperCase();
  if (kind === 'TRACKING') {
    const mode = args[1]?.toUpperCase();
    if (args.length !== 2 || (mode !== 'ON' && mode !== 'OFF')) return err(s, NutErr.INVALID_ARGUMENT);
    s.tracking = mode === 'ON';
    return s.send('OK');
  }
  if (kind !== 'VAR' || args.length !== 4) return err(s, NutErr.INVALID_ARGUMENT);
  const [, ups, name, value] = args as [string, string, string, string];
  const missing = credentialsMissing(s);
  if (missing) return err(s, missing);
  if (!s.ctx.isOurUps(ups)) return err(s, NutErr.UNKNOWN_UPS);
  const user = authorize(s, 'SET');
  if (typeof user === 'string') return err(s, user);
  const down = unavailable(s.ctx.hub.snapshot());
  if (down) return err(s, down);
  const rw = writable(s, name);
  if (!rw) {
    const exists = clientVars(s.ctx.hub.snapshot(), { fsd: false })[name] !== undefined;
    return err(s, exists ? NutErr.READONLY : NutErr.VAR_NOT_SUPPORTED);
  }
  if (!validValue(rw, value)) return err(s, NutErr.INVALID_VALUE);
  s.ctx.logger.info({ user: user.name, client: s.address, variable: name, value }, 'NUT SET VAR');
  await perform(s, NutErr.SET_FAILED, () => s.ctx.source.setVariable(name, value));
};

const instcmd: Handler = async (s, args) => {
  if (args.length !== 2 && args.length !== 3) return err(s, NutErr.INVALID_ARGUMENT);
  const [ups, cmd, param] = args as [string, string, string | undefined];
  const missing = credentialsMissing(s);
  if (missing) return err(s, missing);
  if (!s.ctx.isOurUps(ups)) return err(s, NutErr.UNKNOWN_UPS);
  const user = authorize(s, 'INSTCMD', cmd);
  if (typeof user === 'string') return err(s, user);
  if (!s.ctx.source.commands().includes(cmd)) return err(s, NutErr.CMD_NOT_SUPPORTED);
  s.ctx.logger.warn({ user: user.name, client: s.address, command: cmd, param }, 'NUT INSTCMD');
  await perform(s, NutErr.INSTCMD_FAILED, () => s.ctx.source.instantCommand(cmd, param));
};

const HANDLERS: Record<string, Handler> = {
  VER: (s) => s.send(`upsfleet ${s.ctx.version} - NUT network protocol ${PROTOCOL_VERSION}`),
  NETVER: (s) => s.send(PROTOCOL_VERSION),
  PROTVER: (s) => s.send(PROTOCOL_VERSION),
  HELP: (s) => s.send(HELP),
  STARTTLS: starttls,
  USERNAME: username,
  PASSWORD: password,
  LOGIN: login,
  LOGOUT: logout,
  PRIMARY: primary('PRIMARY-GRANTED'),
  MASTER: primary('MASTER-GRANTED'),
  FSD: fsd,
  GET: get,
  LIST: listCmd,
  SET: set,
  INSTCMD: instcmd,
};

/** Answers one tokenized command line. */
export async function runCommand(s: NutSession, words: string[]): Promise<void> {
  const handler = HANDLERS[words[0]!.toUpperCase()];
  if (!handler) return err(s, NutErr.UNKNOWN_COMMAND);
  await handler(s, words.slice(1));
}
