/**
 * The dashboard's files (index.html, app.js, app.css), built from web/dashboard/ by
 * scripts/build-dashboard.mjs at build time into dist/dashboard/ and served from there: nothing is
 * compiled at run time and nothing comes from a CDN (the master often has no internet). Read once, kept
 * in memory. UPSFLEET_DASHBOARD_DIR points elsewhere (tests build the current sources into a temp dir).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DashboardFile {
  type: string;
  body: Buffer;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Where the built dashboard is, from the compiled master (dist/master/dashboard/), the one-file bundle (dist/) or the sources. */
export function findDashboardDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.UPSFLEET_DASHBOARD_DIR) return resolve(env.UPSFLEET_DASHBOARD_DIR);
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, 'dashboard'), // dist/upsfleet.cjs
    resolve(here, '..', '..', 'dashboard'), // dist/master/dashboard/*.js
    resolve(here, '..', '..', 'dist', 'dashboard'), // master/dashboard/*.ts (from source, after a build)
  ];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

/** The files of the built dashboard by URL path (`/` is index.html), or null when it was not built. */
export function loadDashboard(dir: string | null): Map<string, DashboardFile> | null {
  if (!dir || !existsSync(join(dir, 'index.html'))) return null;
  const files = new Map<string, DashboardFile>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    files.set(`/${name}`, { type, body });
    if (name === 'index.html') files.set('/', { type, body });
  }
  return files;
}
