#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's built-in runner (Node 20 has no glob for --test).
// Arguments narrow the set: `npm test -- test/unit/nut` runs the files under that path.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(relative(process.cwd(), p));
  }
  return out;
}

const filters = process.argv.slice(2);
// (the runner sorts the files by path itself, whatever order they are given in). The timeout is per file:
// the load, playbook and guest suites take minutes, and the real-host suite (test/hosts/roles.test.ts, one
// fleet through 14 playbook-driven cases) about 8 on a quiet 2-core machine and three times that when the
// machine is busy: it hit a 10-minute bound once beside other work.
const files = collect('test').filter(
  (f) => filters.length === 0 || filters.some((x) => f.startsWith(x.replace(/^\.\//, ''))),
);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=1200000', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
