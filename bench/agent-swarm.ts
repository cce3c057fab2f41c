/**
 * The agents of the fan-out benchmark, in a process of their own (so the master's figures are not the
 * agents' work): many light agents (bench/light-agent.ts: real TLS, real hello, every message validated)
 * connected to one master. Input: a JSON file named by the first argument ({ url, ca, capabilities,
 * agents: [{ id, group, token }] }). Protocol on stdio, one JSON object per line:
 *   out {"ready": n, "stateBytes": b}                  every agent welcomed; b: the first full state's size
 *   in  {"expect": "97"}                               the next battery.charge to wait for
 *   out {"expecting": "97"}                            (sent before the parent changes anything)
 *   out {"charge": "97", "at": [ms, ...], "invalid": 0, "wire": {"type", "bytes"}}
 *                                                      when every agent received it: each arrival time (its
 *                                                      read plus its own validation, bench/light-agent.ts),
 *                                                      and what the change was on the wire (full state or delta)
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { holdFrames, LightAgent, releaseFrames, type Wire } from './light-agent.js';

interface Setup {
  url: string;
  ca: string;
  capabilities: string[];
  agents: Array<{ id: string; group: string; token: string }>;
}

const setup = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Setup;
let expected: string | null = null;
let arrivals: number[] = [];
let invalid = 0;
let wire: Wire | null = null;
let stateBytes = 0;
/** Frames read since the last `expect` while they are held (light-agent.ts): at one per agent, all are validated. */
let heldFrames: number | null = null;

function report(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const agents = setup.agents.map(
  (a) =>
    new LightAgent({
      url: setup.url,
      ca: setup.ca,
      id: a.id,
      group: a.group,
      token: a.token,
      capabilities: setup.capabilities,
      onInvalid: () => invalid++,
      onFrameRead: () => {
        if (heldFrames === null || ++heldFrames < agents.length) return;
        heldFrames = null;
        releaseFrames();
      },
      onMessage: (msg, at, w) => {
        if (msg.type === 'state' && w.type === 'state' && stateBytes === 0) stateBytes = w.bytes;
        if (msg.type !== 'state' || expected === null) return;
        if (msg.vars['battery.charge'] !== expected) return;
        arrivals.push(at);
        wire ??= w;
        if (arrivals.length === agents.length) {
          report({ charge: expected, at: arrivals, invalid, wire });
          wire = null;
          expected = null;
          arrivals = [];
        }
      },
    }),
);

async function main(): Promise<void> {
  // in batches: the master takes handshakes in order, and a burst of 10,000 at once only queues
  for (let i = 0; i < agents.length; i += 250) {
    await Promise.all(agents.slice(i, i + 250).map((a) => a.connect()));
  }
  report({ ready: agents.length, stateBytes });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { expect?: string; quit?: boolean };
    if (cmd.quit) break;
    if (cmd.expect !== undefined) {
      expected = cmd.expect;
      arrivals = [];
      // validated once each agent has had a frame: a stray one (a ping) makes the rest validate as they come
      heldFrames = 0;
      holdFrames();
      report({ expecting: cmd.expect });
    }
  }
  for (const a of agents) a.close();
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
