/**
 * `upsfleet monitor [URL] [--token T] [--fingerprint FP]`: the dashboard's picture in a terminal, full
 * screen and live like `top` (for SSH sessions), from the master's live stream (`GET /live`, the one the
 * web page reads). The master's certificate is pinned as for `upsfleet status`. q (or Ctrl-C) quits;
 * the stream reconnects by itself. Not a terminal: one frame per change, plain, on stdout.
 */
import { parseArgs } from 'node:util';
import { applyLive, type LiveModel, parseLiveMessage } from '../../master/dashboard/live-model.js';
import { SseParser } from '../../shared/http/sse.js';
import { type PinnedStream, pinnedStream } from '../../shared/tls/pinned-request.js';
import { frame, monitorLines } from '../monitor/render-monitor.js';
import { type CommandHandler, ExitCodes } from './command.js';
import {
  cliFingerprints,
  FINGERPRINT_OPTION,
  httpBase,
  plaintextRefusal,
  useFingerprint,
} from './master-client.js';

const USAGE = 'usage: upsfleet monitor [URL] [--token T] [--fingerprint sha256:...]\n';
const REDRAW_MIN_MS = 100;
const ESC = String.fromCharCode(27);
const ANSI_SEQUENCE = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g');

function stripAnsi(text: string): string {
  return text.replace(ANSI_SEQUENCE, '').replace(/\r\n/g, '\n');
}

export const monitorCommand: CommandHandler = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { token: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...FINGERPRINT_OPTION },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.stdout(USAGE);
    return ExitCodes.OK;
  }
  if (positionals.length > 1) {
    io.stderr(USAGE);
    return ExitCodes.USAGE;
  }
  useFingerprint(values.fingerprint);
  const base = httpBase(positionals[0] ?? 'http://127.0.0.1:8740');
  const token = values.token ?? process.env.UPSFLEET_TOKEN ?? process.env.UPSFLEET_ADMIN_TOKEN;
  if (token) {
    const refused = plaintextRefusal('monitor', base, io);
    if (refused !== null) return refused;
  }
  const out = process.stdout;
  const tty = out.isTTY === true;
  const stdin = process.stdin;

  let model: LiveModel | null = null;
  let conn = 'connecting';
  let stream: PinnedStream | null = null;
  let stopped = false;
  let lastDraw = 0;
  let drawTimer: NodeJS.Timeout | null = null;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const draw = () => {
    drawTimer = null;
    lastDraw = Date.now();
    const rows = tty ? out.rows || 24 : 60;
    const cols = tty ? out.columns || 80 : 160;
    const now = Date.now() - (model?.skewMs ?? 0);
    const screen = frame(monitorLines(model, now, conn, rows), cols, rows, tty);
    out.write(tty ? screen : `${stripAnsi(screen)}\n\n`);
  };
  const schedule = () => {
    if (drawTimer || stopped) return;
    drawTimer = setTimeout(draw, Math.max(0, REDRAW_MIN_MS - (Date.now() - lastDraw)));
  };

  const quit = (code: number) => {
    if (stopped) return;
    stopped = true;
    if (drawTimer) clearTimeout(drawTimer);
    clearInterval(tick);
    stream?.close();
    if (tty) out.write('\x1b[?25h\x1b[?1049l');
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    finish(code);
  };

  if (tty) out.write('\x1b[?1049h\x1b[?25l');
  out.on('resize', schedule);
  // ages and countdowns move on their own between messages
  const tick = setInterval(() => tty && schedule(), 1000);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.on('data', (key: string) => {
    // q, Q, Ctrl-C, Ctrl-D
    if ([...key].some((c) => c === 'q' || c === 'Q' || c === '\u0003' || c === '\u0004')) quit(ExitCodes.OK);
  });
  stdin.on('end', () => {
    if (!tty) return;
    quit(ExitCodes.OK);
  });
  stdin.resume();
  const onSignal = () => quit(ExitCodes.OK);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let delayMs = 500;
  const connect = async (): Promise<void> => {
    while (!stopped) {
      const parser = new SseParser();
      try {
        stream = await pinnedStream(
          `${base}/live`,
          {
            fingerprints: cliFingerprints(),
            ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
          },
          (text) => {
            for (const ev of parser.push(text)) {
              const msg = parseLiveMessage(ev.data);
              if (!msg) continue;
              model = applyLive(model, msg, Date.now());
              schedule();
            }
          },
        );
        if (stream.status === 401) {
          quit(ExitCodes.PERMISSION);
          io.stderr(
            `upsfleet monitor: ${base} wants a viewer token (--token or UPSFLEET_TOKEN): ${stream.text.trim()}\n`,
          );
          return;
        }
        if (stream.status !== 200) throw new Error(`${base}/live answered ${stream.status}`);
        conn = 'live';
        delayMs = 500;
        schedule();
        await stream.ended;
      } catch (err) {
        if ((err as { code?: string }).code === 'TLS_PIN_MISMATCH') {
          quit(ExitCodes.PERMISSION);
          io.stderr(`upsfleet monitor: ${(err as Error).message}\n`);
          return;
        }
        if (model === null && conn === 'connecting' && !tty) {
          quit(ExitCodes.UNREACHABLE);
          io.stderr(`upsfleet monitor: cannot reach ${base}: ${(err as Error).message}\n`);
          return;
        }
      }
      if (stopped) return;
      conn = 'reconnecting';
      schedule();
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  };
  draw();
  void connect();
  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  out.off('resize', schedule);
  return code;
};
