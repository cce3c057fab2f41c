// The esbuild options every one-file bundle of the CLI shares: the shipped artefacts
// (scripts/build-bundles.mjs) and the guest kernel suite's image (test/guest/guest-image.ts), so that what
// the guest runs is bundled as what ships (a native part left in one and not the other broke the guest
// suite once).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
    plugins: [inlineVersion(root)],
    // the few sources that locate files beside themselves keep working from the bundle
    define: { 'import.meta.url': '__upsfleetImportMetaUrl' },
    banner: {
      js: `${hashbang}const __upsfleetImportMetaUrl = require('node:url').pathToFileURL(__filename).href;`,
    },
    logLevel: 'warning',
    legalComments: 'none',
  };
}
