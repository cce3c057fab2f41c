/** runUntilSignal: SIGHUP reloads and never stops the daemon; while stopping it is ignored. Signals are emitted in-process. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ignoreHangupWhileStarting, runUntilSignal } from '../../../cli/commands/run-until-signal.js';
import { createLogger } from '../../../shared/logger.js';

function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    name: 'test',
    level: 'info',
    stream: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
  });
  return { lines, logger };
}

test('SIGHUP reloads (a throwing reload is logged), SIGTERM stops once, SIGHUP while stopping is ignored', async () => {
  const { lines, logger } = memoryLogger();
  const hupListenersBefore = process.listenerCount('SIGHUP');
  let reloads = 0;
  let stops = 0;
  let finishStop = () => {};
  const done = runUntilSignal(
    logger,
    () =>
      new Promise<void>((resolve) => {
        stops++;
        finishStop = resolve;
      }),
    {
      reload: () => {
        reloads++;
        if (reloads === 2) throw new Error('boom');
      },
    },
  );
  process.emit('SIGHUP', 'SIGHUP');
  process.emit('SIGHUP', 'SIGHUP');
  assert.equal(reloads, 2);
  assert.ok(lines.some((l) => l.level === 50 && l.msg === 'reload failed; running on as before'));
  process.emit('SIGTERM', 'SIGTERM');
  process.emit('SIGHUP', 'SIGHUP');
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(reloads, 2, 'no reload while stopping');
  assert.equal(stops, 1);
  assert.ok(lines.some((l) => l.msg === 'reload ignored: stopping'));
  finishStop();
  await done;
  // the SIGHUP handler stays to the end so that a late one never kills a stopping daemon
  assert.equal(process.listenerCount('SIGHUP'), hupListenersBefore + 1);
  process.removeAllListeners('SIGHUP');
});

test('while starting, SIGHUP is logged and ignored until the handler is removed', () => {
  const { lines, logger } = memoryLogger();
  const stop = ignoreHangupWhileStarting(logger);
  process.emit('SIGHUP', 'SIGHUP');
  assert.equal(lines.at(-1)?.msg, 'reload ignored: still starting; send it again once ready');
  stop();
  assert.equal(process.listenerCount('SIGHUP'), 0);
});
