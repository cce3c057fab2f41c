#!/usr/bin/env node
// The web dashboard (web/dashboard/) built into static files the master serves from its package:
//   <out>/index.html, <out>/app.js (the page's code with uPlot bundled in), <out>/app.css, <out>/icon.svg
// `npm run build` runs it (through build-bundles.mjs) into dist/dashboard; tests build the current sources
// into a temp dir: `node scripts/build-dashboard.mjs OUTDIR`. Nothing is fetched at run time (no CDN).
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function buildDashboard(outDir = join(ROOT, 'dist', 'dashboard')) {
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: { app: join(ROOT, 'web', 'dashboard', 'app.ts') },
    outdir: out,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    // phones a few years old: Safari 15, Chrome 100
    target: ['es2020', 'chrome100', 'safari15', 'firefox100'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'icon.svg'])
    copyFileSync(join(ROOT, 'web', 'dashboard', file), join(out, file));
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildDashboard(process.argv[2]);
  console.log(out);
}
