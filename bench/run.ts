/**
 * `npm run bench`: upsfleet's fast paths measured beside NUT's on this machine, printed as one table with
 * ratios and the targets of issue 14, and written to bench/results/bench.json.
 *   --sizes 100,1000,10000   fan-out sizes (agents, in a process of their own)
 *   --sections flip,listvar,fanout,probes,steps   which parts to run (default all)
 *   --rounds N               fan-out rounds per size (default 40; 10 at 10,000 and above)
 *   --nut-rounds N           flips per notify measurement (default 5)
 *   --seconds N              LIST VAR load per server and connection count (default 5)
 *   --quick                  a short run while developing (100 agents, few rounds)
 *   --full-states            fan-out agents without the state-delta capability (every state in full, as
 *                            agents before it): the figures to compare deltas with
 *   --no-floors              skip the bare ws+TLS server beside each fan-out size (bench/floors.ts)
 *   --tls-workers 0,1        the master's TLS worker counts to run each fan-out size with (default 0,1;
 *                            0: TLS in the master's own process, as by default)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exhaustionProbes, type ProbeResult } from './exhaustion.js';
import { FANOUT_CAPABILITIES, type FanoutResult, fanout } from './fanout.js';
import { type FlipResult, nutFlip, upsfleetFlip } from './flip-notify.js';
import { bareFanout, type FloorResult } from './floors.js';
import { bareNodeMiB } from './footprint.js';
import { type ListVarResult, listVar } from './listvar.js';
import { fsyncMedianMs, machine } from './measure.js';
import { measureStepGaps } from './step-gaps.js';

const SECTIONS = ['flip', 'listvar', 'fanout', 'probes', 'steps'] as const;

interface Row {
  measure: string;
  nut: string;
  upsfleet: string;
  ratio: string;
  target: string;
  met: string;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const yes = (ok: boolean) => (ok ? 'yes' : 'NO');

/** The rows of one fan-out run; `r.tlsWorkers` > 0: the master terminated the agents' TLS in worker processes. */
function fanoutRows(rows: Row[], r: FanoutResult): void {
  const n = r.agents;
  const how = r.tlsWorkers > 0 ? `, TLS in ${r.tlsWorkers} worker${r.tlsWorkers > 1 ? 's' : ''}` : '';
  const target = n <= 1000 ? 20 : n <= 10_000 ? 200 : Number.NaN;
  rows.push({
    measure: `fan-out ${f0(n)} agents${how}: p99 per agent / last agent ms`,
    nut: '',
    upsfleet: `${f1(r.perAgentMs.p99)} / ${f1(r.allReceivedMs.p99)}`,
    ratio: '',
    target: Number.isFinite(target) ? `p99 <= ${target} ms` : '',
    met: Number.isFinite(target) ? yes(r.perAgentMs.p99 <= target) : '',
  });
  rows.push({
    measure: `  master RSS MiB with ${f0(n)} agents${r.tlsWorkers > 0 ? ' (main + workers)' : ''} (peak)`,
    nut: '',
    upsfleet: f1(r.masterRssMiB.peak),
    ratio: '',
    target: n >= 10_000 ? '<= 300 MiB' : '',
    met: n >= 10_000 ? yes(r.masterRssMiB.peak <= 300) : '',
  });
  if (r.tlsWorkers === 0)
    rows.push({
      measure: `  bytes per agent for a one-variable change (${r.change.type}; full state ${f0(r.stateBytes)})`,
      nut: '',
      upsfleet: f0(r.change.bytes),
      ratio: r.change.bytes > 0 ? `${(r.stateBytes / r.change.bytes).toFixed(1)}x smaller` : '',
      target: '',
      met: '',
    });
  if (r.masterWriteMs)
    rows.push({
      measure: `  of which the master's ${r.tlsWorkers > 0 ? 'hand-off to its workers' : 'writes to every socket'}, p50 / max ms`,
      nut: '',
      upsfleet: `${f1(r.masterWriteMs.p50)} / ${f1(r.masterWriteMs.max)}`,
      ratio: '',
      target: '',
      met: '',
    });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      sections: { type: 'string' },
      rounds: { type: 'string' },
      'nut-rounds': { type: 'string' },
      seconds: { type: 'string' },
      quick: { type: 'boolean' },
      'full-states': { type: 'boolean' },
      'no-floors': { type: 'boolean' },
      'tls-workers': { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const sizes = (values.sizes ?? (quick ? '100' : '100,1000,10000')).split(',').map(Number);
  const workerCounts = (values['tls-workers'] ?? '0,1').split(',').map(Number);
  const sections = new Set(values.sections ? values.sections.split(',') : SECTIONS);
  const nutRounds = Number(values['nut-rounds'] ?? (quick ? 2 : 5));
  const seconds = Number(values.seconds ?? (quick ? 2 : 5));
  const roundsFor = (n: number) => Number(values.rounds ?? (quick ? 5 : n >= 10_000 ? 10 : 40));
  const env = machine();
  const rows: Row[] = [];
  const notes: string[] = [];
  const json: Record<string, unknown> = { date: new Date().toISOString(), machine: env };

  if (sections.has('flip')) {
    process.stderr.write('flip -> notify ...\n');
    const ours = await upsfleetFlip(nutRounds * 2);
    const nutDefault = await nutFlip(undefined, nutRounds);
    const nutFast = await nutFlip(1, nutRounds);
    json.flip = { upsfleet: ours, nutDefault, nutPollFreq1: nutFast };
    for (const nut of [nutDefault, nutFast]) {
      if (typeof nut === 'string') {
        if (!notes.includes(nut)) notes.push(nut);
        continue;
      }
      rows.push({
        measure: `flip -> notify median ms (${nut.label.replace('NUT upsmon, ', '')})`,
        nut: f1(nut.p50),
        upsfleet: f1(ours.p50),
        ratio: `${f0(nut.p50 / ours.p50)}x faster`,
        target: nut === nutDefault ? '<= 12 ms, >= 250x' : '',
        met: nut === nutDefault ? yes(ours.p50 <= 12 && nut.p50 / ours.p50 >= 250) : '',
      });
    }
    if (typeof nutDefault === 'string') {
      // without NUT there is no ratio, but our own figure still stands against its 12 ms
      rows.push({
        measure: 'flip -> notify median ms (NUT not installed)',
        nut: '-',
        upsfleet: f1(ours.p50),
        ratio: '',
        target: '<= 12 ms, >= 250x',
        met: ours.p50 <= 12 ? 'ms only' : 'NO',
      });
    }
    rows.push({
      measure: '  of which: a bare node starting the same script, p50 ms (floor)',
      nut: '',
      upsfleet: f1(ours.spawnFloorP50),
      ratio: '',
      target: '',
      met: '',
    });
    rows.push({
      measure: 'flip -> agent webhook POST received, median ms (no process)',
      nut: '',
      upsfleet: f1(ours.webhookP50),
      ratio: typeof nutDefault === 'string' ? '' : `${f0(nutDefault.p50 / ours.webhookP50)}x faster`,
      target: '',
      met: '',
    });
    const fsyncMs = fsyncMedianMs();
    json.fsyncMedianMs = fsyncMs;
    rows.push({
      measure: '  of which: journal fsync before the event, p50 ms',
      nut: '',
      upsfleet: f1(fsyncMs),
      ratio: '',
      target: '',
      met: '',
    });
    const upsmon = [nutDefault, nutFast].find((x): x is FlipResult => typeof x !== 'string');
    const floor = await bareNodeMiB();
    json.bareNode = floor;
    rows.push({
      measure: 'idle host watcher RSS MiB (upsmon / agent)',
      nut: f1(upsmon?.watcherRssMiB ?? Number.NaN),
      upsfleet: f1(ours.agentIdleRssMiB),
      ratio: upsmon ? `${f1(ours.agentIdleRssMiB / upsmon.watcherRssMiB)}x larger` : '',
      target: '<= 40 MiB',
      met: yes(ours.agentIdleRssMiB <= 40),
    });
    rows.push({
      measure: '  agent private MiB; a bare node RSS / private',
      nut: '',
      upsfleet: `${f1(ours.agentIdlePrivateMiB)}; ${f1(floor.rss)} / ${f1(floor.private)}`,
      ratio: '',
      target: '',
      met: '',
    });
    notes.push(`agent started as its unit starts it: node ${ours.nodeFlags.join(' ')}`);
  }

  if (sections.has('listvar')) {
    process.stderr.write('LIST VAR ...\n');
    const lv = await listVar(seconds);
    json.listVar = lv;
    if (typeof lv === 'string') notes.push(lv);
    else
      for (const n of [1, 50]) {
        const d = lv.find((r: ListVarResult) => r.server === 'upsd' && r.connections === n)!;
        const u = lv.find((r: ListVarResult) => r.server === 'upsfleet' && r.connections === n)!;
        rows.push({
          measure: `LIST VAR/s, ${n} connection${n > 1 ? 's' : ''} (${u.linesPerReply} lines)`,
          nut: f0(d.perSecond),
          upsfleet: f0(u.perSecond),
          ratio: `${(u.perSecond / d.perSecond).toFixed(2)}x upsd`,
          target: '>= upsd',
          met: yes(u.perSecond >= d.perSecond),
        });
      }
  }

  if (sections.has('fanout')) {
    const results: FanoutResult[] = [];
    const floors: FloorResult[] = [];
    for (const n of sizes) {
      process.stderr.write(`fan-out to ${n} agents ...\n`);
      const capabilities = values['full-states']
        ? FANOUT_CAPABILITIES.filter((c) => c !== 'state-delta')
        : FANOUT_CAPABILITIES;
      for (const workers of workerCounts) {
        if (workers > 0)
          process.stderr.write(`fan-out to ${n} agents, TLS in ${workers} worker process(es) ...\n`);
        const r = await fanout(n, roundsFor(n), capabilities, workers);
        results.push(r);
        fanoutRows(rows, r);
        if (r.invalid > 0)
          notes.push(
            `fan-out ${n} (${workers} TLS workers): ${r.invalid} messages failed the agents' checks`,
          );
      }
      if (values['no-floors']) continue;
      process.stderr.write(`bare ws server to ${n} connections, 1 and 2 processes ...\n`);
      const one = await bareFanout(n, 1);
      const two = await bareFanout(n, 2);
      floors.push(one, two);
      rows.push({
        measure: '  floor: a bare ws+TLS server, 1 / 2 processes: p99 ms',
        nut: '',
        upsfleet: `${f1(one.p99Ms)} / ${f1(two.p99Ms)}`,
        ratio: '',
        target: '',
        met: '',
      });
      rows.push({
        measure: `  floor: that server's RSS with ${f0(n)} connections, MiB (private)`,
        nut: '',
        upsfleet: f1(one.serverRssMiB),
        ratio: '',
        target: '',
        met: '',
      });
    }
    json.fanout = results;
    json.floors = floors;
  }

  if (sections.has('probes')) {
    process.stderr.write('memory-exhaustion probes ...\n');
    const probes = await exhaustionProbes();
    json.probes = probes;
    for (const p of probes as ProbeResult[])
      rows.push({
        measure: `${p.port} port, unauthenticated: master RSS growth MiB`,
        nut: '',
        upsfleet: `${f1(p.growthMiB)} (left ${f1(p.leftMiB)})`,
        ratio: '',
        target: '<= 10 MiB',
        met: yes(p.growthMiB <= 10),
      });
  }

  if (sections.has('steps')) {
    process.stderr.write('step gaps ...\n');
    const gaps = await measureStepGaps();
    json.stepGapMs = gaps;
    rows.push({
      measure: 'step gap (last down -> next order) p50 / max ms',
      nut: '',
      upsfleet: `${gaps.p50.toFixed(2)} / ${gaps.max.toFixed(2)}`,
      ratio: '',
      target: '',
      met: '',
    });
  }

  env.load.push(Number(loadavg()[0]?.toFixed(2)));
  print(rows, env, notes);
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'bench.json'), `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nwritten: ${join(out, 'bench.json')}`);
}

function print(rows: Row[], env: ReturnType<typeof machine>, notes: string[]): void {
  const head: Row = {
    measure: 'measure',
    nut: 'NUT',
    upsfleet: 'upsfleet',
    ratio: 'ratio',
    target: 'target',
    met: 'met',
  };
  const keys = Object.keys(head) as Array<keyof Row>;
  const width = Object.fromEntries(
    keys.map((k) => [k, Math.max(...[head, ...rows].map((r) => r[k].length))]),
  );
  const line = (r: Row) =>
    keys.map((k, i) => (i === 0 ? r[k].padEnd(width[k]!) : r[k].padStart(width[k]!))).join('  ');
  console.log(
    `\nupsfleet vs NUT on ${env.cpus} x ${env.cpu}, ${env.memGiB} GiB, Node ${env.node}, load ${env.load.join(' -> ')}\n`,
  );
  console.log(line(head));
  console.log(keys.map((k) => '-'.repeat(width[k]!)).join('  '));
  for (const r of rows) console.log(line(r));
  for (const n of notes) console.log(`note: ${n}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
