/**
 * A worker process of the reconnect-storm load test: runs many real MasterConnection instances (the
 * agent's own connect, TLS pin check, hello and reconnect code, with the agent's default reconnect
 * settings) against one master URL, counts every connection attempt (one per WebSocket constructed) and
 * why attempts failed, and reports to the parent over IPC.
 *
 * Input: a JSON file named by the first argument: { agents: [{ id, group, token }], url, fingerprint }.
 * Output: one JSON report per line on stdout every 200 ms ({ attempts, failures, welcomedAtLeast,
 * charges, connected }). (Not IPC: a tsx-loaded child with an IPC channel hung while importing here.)
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { MasterConnection } from '../../agent/master-connection.js';
import { systemClock } from '../../shared/clock.js';
import { parseAgentSettings } from '../../shared/config/agent-settings.js';
import { silentLogger } from '../../shared/logger.js';

interface Setup {
  agents: Array<{ id: string; group: string; token: string }>;
  url: string;
  fingerprint: string;
}

export interface StormReport {
  attempts: number;
  failures: Record<string, number>;
  /** How many agents were welcomed at least k times, for k = 1, 2, 3. */
  welcomedAtLeast: [number, number, number];
  /** Agents by the battery.charge of the last state they received. */
  charges: Record<string, number>;
  connected: number;
}

let attempts = 0;
const failures: Record<string, number> = {};

function classify(err: Error & { code?: string }): string {
  if (/handshake has timed out/i.test(err.message)) return 'handshake-timeout';
  if (err.code) return err.code;
  if (/socket disconnected before secure TLS/i.test(err.message)) return 'reset-before-tls';
  if (/Unexpected server response: (\d+)/.test(err.message))
    return `http-${/Unexpected server response: (\d+)/.exec(err.message)?.[1]}`;
  return err.message.slice(0, 60);
}

/** ws, counting each construction as one connection attempt and each failure by kind. */
class CountingWebSocket extends WebSocket {
  constructor(address: string, options?: WebSocket.ClientOptions) {
    super(address, options);
    attempts++;
    this.on('error', (err: Error & { code?: string }) => {
      const kind = classify(err);
      failures[kind] = (failures[kind] ?? 0) + 1;
    });
  }
}

function start(setup: Setup): () => StormReport {
  // the agent's reconnect settings as a deployed agent resolves them (no reconnect section: the defaults)
  const defaults = parseAgentSettings(
    JSON.stringify({
      agent: { id: 'defaults', group: 'g', token: 'only-for-the-defaults' },
      master: { urls: [setup.url], fingerprint: setup.fingerprint },
    }),
    '/dev/null/agent.yaml',
  );
  const welcomes = new Uint8Array(setup.agents.length);
  const charges: string[] = new Array(setup.agents.length).fill('');
  const conns = setup.agents.map(
    (a, i) =>
      new MasterConnection({
        urls: [setup.url],
        tls: { fingerprints: [setup.fingerprint] },
        hello: {
          agentId: a.id,
          group: a.group,
          version: '0.0.0-load',
          capabilities: ['order'],
          token: a.token,
          dryRun: true,
          hostname: a.id,
        },
        reconnect: defaults.reconnect,
        clock: systemClock,
        logger: silentLogger(),
        WebSocket: CountingWebSocket,
        onMessage: (msg) => {
          if (msg.type === 'welcome') welcomes[i] = Math.min(255, (welcomes[i] ?? 0) + 1);
          else if (msg.type === 'state') charges[i] = msg.vars['battery.charge'] ?? '';
        },
      }),
  );
  // all at once, as a fleet that boots together
  for (const c of conns) c.start();
  return () => {
    const at: [number, number, number] = [0, 0, 0];
    for (const w of welcomes) for (let k = 0; k < 3; k++) if (w > k) at[k]!++;
    const byCharge: Record<string, number> = {};
    for (const c of charges) byCharge[c] = (byCharge[c] ?? 0) + 1;
    return {
      attempts,
      failures: { ...failures },
      welcomedAtLeast: at,
      charges: byCharge,
      connected: conns.filter((c) => c.connected).length,
    };
  };
}

const report = start(JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as Setup);
setInterval(() => process.stdout.write(`${JSON.stringify(report())}\n`), 200);
// the parent's end of stdin closes when it goes away: so do we
process.stdin.on('end', () => process.exit(0)).resume();
