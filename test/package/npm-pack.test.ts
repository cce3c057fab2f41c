/**
 * `npm i -g upsfleet` gets what it needs and nothing else: `npm pack` ships the compiled CLI, the bundles, the
 * dashboard, deploy/, every docs/ and examples/ file the README links to, the man page and LICENSE; not the
 * benchmarks, source maps or a copy of package.json inside dist/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

const ROOT = join(import.meta.dirname, '../..');

it('npm pack ships the CLI, docs, examples, man page and LICENSE, and no bench or source maps', (t) => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    return t.skip('dist/ not built: run npm run build (npm test does)');
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  const files = new Set((pack?.files ?? []).map((f) => f.path));
  for (const f of [
    'LICENSE',
    'README.md',
    'package.json',
    'dist/cli/main.js',
    'dist/upsfleet.cjs',
    'dist/upsfleet-agent.cjs',
    'dist/dashboard/index.html',
    'deploy/systemd/upsfleet-master.service',
    'deploy/bash-completion/upsfleet',
    'docs/man/upsfleet.1',
    'examples/master.yaml',
    'examples/agent.yaml',
  ])
    assert.ok(files.has(f), `${f} is not in the package`);
  const unwanted = [...files].filter(
    (f) => f.startsWith('dist/bench/') || f.endsWith('.map') || f === 'dist/package.json',
  );
  assert.deepEqual(unwanted, []);
  // every local link of the README to docs/ and examples/ reaches a shipped file
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const links = [...readme.matchAll(/\]\(((?:docs|examples)\/[^)#\s]+)/g)].map((m) => m[1] as string);
  assert.ok(links.length > 0);
  assert.deepEqual(
    links.filter((l) => !files.has(l)),
    [],
  );
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    license: string;
    man: string[];
    engines: { node: string };
  };
  assert.equal(pkg.license, 'MIT');
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
  for (const page of pkg.man) assert.ok(files.has(page.replace(/^\.\//, '')), page);
});
