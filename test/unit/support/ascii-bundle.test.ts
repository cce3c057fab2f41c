/**
 * The one-file bundles are written as ASCII (scripts/bundle-options.mjs): V8 holds a script's source in
 * the heap as long as it runs, at two bytes per character as soon as one character is beyond Latin-1.
 * The escapes must mean what the raw characters meant, in a comment, a string, a template, a regular
 * expression and a name, for characters inside and beyond the Basic Multilingual Plane.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { asciiOnly } from '../../../scripts/bundle-options.mjs';

const ROOT = join(import.meta.dirname, '../../..');

it('escapes every non-ASCII character so that the program means the same', () => {
  const source = [
    '/* (step - 1) × spacing, hello → welcome */',
    'const ünits = "3 × 4 → 12 ⚡ 🔋";',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source, evaluated below
    'const tpl = `${ünits} – ok`;',
    'const re = /[×→]/g;',
    'const astral = /🔋/u;',
    '({ s: ünits, t: tpl, n: ünits.match(re).length, a: astral.test("x🔋y"), len: ünits.length })',
  ].join('\n');
  const ascii = asciiOnly(source);
  assert.doesNotMatch(ascii, /[\u0080-\uffff]/);
  // compared as JSON: the two results are objects of another context
  assert.equal(JSON.stringify(runInNewContext(ascii)), JSON.stringify(runInNewContext(source)));
  assert.equal(asciiOnly('plain ascii'), 'plain ascii');
});

it('the built bundles hold no byte beyond ASCII and still start', (t) => {
  const bundles = ['dist/upsfleet-agent.cjs', 'dist/upsfleet.cjs'].map((f) => join(ROOT, f));
  if (!bundles.every((f) => existsSync(f)))
    return t.skip('bundles not built: run npm run build (npm test does)');
  for (const file of bundles) {
    const bytes = readFileSync(file);
    const at = bytes.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `${file}: a non-ASCII byte at offset ${at}`);
    const r = spawnSync(process.execPath, [file, '--version'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
  }
});
