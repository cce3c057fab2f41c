/**
 * The gap between a step's last confirmation and the next step's first order, from the master's own
 * journal: 100 light agents in 5 one-group steps with no settle, a forced shutdown, repeated on fresh masters.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, closeAdmin, startMaster } from './fanout.js';
import { LightAgent } from './light-agent.js';

const RUNS = 3;
const GROUPS = 5;
const AGENTS = 100;

interface SequenceEntry {
  kind: string;
  event?: string;
  ts: number;
  step?: number;
}

export async function measureStepGaps(): Promise<{ p50: number; max: number; samples: number }> {
  const gaps: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const agents = Array.from({ length: AGENTS }, (_, i) => ({ id: `a${i}`, group: `g${i % GROUPS}` }));
    const m = await startMaster(
      agents,
      Array.from({ length: GROUPS }, (_, g) => ({ groups: [`g${g}`], deadline: '30s', settle: '0s' })),
    );
    const clients = agents.map(
      (a) =>
        new LightAgent({ url: m.ws, ca: m.certPem, id: a.id, group: a.group, token: m.tokens.get(a.id)! }),
    );
    await Promise.all(clients.map((c) => c.connect()));
    await admin(m, '/api/fsd', { reason: 'benchmark' });
    const journalFile = join(m.dir, 'state', 'journal.jsonl');
    let entries: SequenceEntry[] = [];
    for (let i = 0; i < 600; i++) {
      entries = readFileSync(journalFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as SequenceEntry)
        .filter((e) => e.kind === 'sequence');
      if (entries.some((e) => e.event === 'done')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let step = 1; step < GROUPS; step++) {
      const lastDown = Math.max(
        ...entries.filter((e) => e.event === 'down' && e.step === step).map((e) => e.ts),
      );
      const firstOrder = Math.min(
        ...entries.filter((e) => e.event === 'order' && e.step === step + 1).map((e) => e.ts),
      );
      if (Number.isFinite(lastDown) && Number.isFinite(firstOrder)) gaps.push(firstOrder - lastDown);
    }
    for (const c of clients) c.close();
    closeAdmin(m);
    await m.stop();
  }
  gaps.sort((a, b) => a - b);
  return {
    p50: gaps[Math.floor((gaps.length - 1) / 2)] ?? Number.NaN,
    max: gaps.at(-1) ?? Number.NaN,
    samples: gaps.length,
  };
}
