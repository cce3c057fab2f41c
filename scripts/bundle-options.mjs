// The esbuild options every one-file bundle of the CLI shares: the shipped artefacts
// (scripts/build-bundles.mjs) and the guest kernel suite's image (test/guest/guest-image.ts), so that what
// the guest runs is bundled as what ships (a native part left in one and not the other broke the guest
// suite once).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Left out of every bundle: optional native speed-ups of ws and ssh2 (its crypto binding, cpu-features),
 * required inside try/catch, so the bundle runs on their pure JavaScript paths; node-hid, native, loaded
 * lazily by the usbhid source only.
 */
export const BUNDLE_EXTERNALS = ['bufferutil', 'utf-8-validate', 'node-hid', 'cpu-features', '*.node'];

/** shared/version.ts reads package.json beside the code at run time; a bundle has none beside it. */
function inlineVersion(root) {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return {
    name: 'inline-version',
    setup(b) {
      b.onLoad({ filter: /[\\/]shared[\\/]version\.ts$/ }, () => ({
        contents: `export const VERSION = ${JSON.stringify(version)};`,
        loader: 'ts',
      }));
    },
  };
}

/**
 * V8 keeps a script's source in the heap for as long as it runs, one byte per character only if every
 * character is Latin-1: a single `→` in a comment doubles it (the agent's 1.3 MB bundle took 2.7 MB of
 * heap). esbuild already writes strings, templates, regular expressions and names as ASCII escapes; what
 * it leaves raw is in the comments it keeps. Each such character becomes its \uXXXX escape, which means
 * the same character wherever JavaScript reads one (and is plain text in a comment).
 */
export function asciiOnly(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function asciiOutput(outfile) {
  return {
    name: 'ascii-output',
    setup(b) {
      b.onEnd((result) => {
        if (result.errors.length > 0) return;
        const text = readFileSync(outfile, 'utf8');
        const ascii = asciiOnly(text);
        if (ascii !== text) writeFileSync(outfile, ascii);
      });
    },
  };
}

/** Options for bundling `entry` (relative to `root`) into one CommonJS file starting with `hashbang`. */
export function bundleOptions({ root, entry, outfile, target, hashbang, external = BUNDLE_EXTERNALS }) {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target,
    // CommonJS: pino, ws and yaml are CommonJS and `require` node built-ins, which an ESM bundle cannot
    format: 'cjs',
    external,
    plugins: [inlineVersion(root), asciiOutput(resolve(root, outfile))],
    // the few sources that locate files beside themselves keep working from the bundle
    define: { 'import.meta.url': '__upsfleetImportMetaUrl' },
    banner: {
      js: `${hashbang}const __upsfleetImportMetaUrl = require('node:url').pathToFileURL(__filename).href;`,
    },
    logLevel: 'warning',
    legalComments: 'none',
  };
}
