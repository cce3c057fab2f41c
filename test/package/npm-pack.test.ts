/**
 * `npm i -g upsfleet` gets what it needs and nothing else: `npm pack` ships the compiled CLI, the bundles, the
 * dashboard, deploy/, every docs/ and examples/ file the README links to, the man page and LICENSE; not the
 * benchmarks, source maps or a copy of package.json inside dist/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

it('the packed files run as a global install does: upsfleet --version, config check, the one-file agent', (t) => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    return t.skip('dist/ not built: run npm run build (npm test does)');
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-pack-'));
  try {
    const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(packed.status, 0, packed.stderr);
    const tarball = join(dir, packed.stdout.trim().split('\n').at(-1)!);
    // laid out as `npm i -g` would (lib/node_modules/upsfleet); its dependencies are this checkout's (a test
    // reaches no registry), so only what the package itself ships is under test
    const pkgDir = join(dir, 'lib/node_modules/upsfleet');
    mkdirSync(pkgDir, { recursive: true });
    const untar = spawnSync('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'], {
      encoding: 'utf8',
    });
    assert.equal(untar.status, 0, untar.stderr);
    symlinkSync(join(ROOT, 'node_modules'), join(pkgDir, 'node_modules'));
    const bin = (
      JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { bin: { upsfleet: string } }
    ).bin.upsfleet;
    const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
    const version = run([join(pkgDir, bin), '--version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const check = run([join(pkgDir, bin), 'config', 'check', join(pkgDir, 'examples/master.yaml')]);
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    const agent = run([
      join(pkgDir, 'dist/upsfleet-agent.cjs'),
      'config',
      'check',
      join(pkgDir, 'examples/agent.yaml'),
    ]);
    // the example names a token file that is not on this machine: a clear refusal with its place, not a crash
    assert.ok(agent.status === 0 || agent.status === 3, `${agent.status}: ${agent.stderr}`);
    assert.doesNotMatch(agent.stderr, /Cannot find module|TypeError|ReferenceError/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
