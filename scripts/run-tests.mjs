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
// the load, playbook and guest suites take minutes, several more on a slow or busy CI machine.
const files = collect('test').filter(
  (f) => filters.length === 0 || filters.some((x) => f.startsWith(x.replace(/^\.\//, ''))),
);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
