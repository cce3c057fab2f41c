#!/usr/bin/env node
// `npm run build` step 2: the one-file artefacts, bundled by esbuild from the TypeScript sources.
//   dist/upsfleet-agent.cjs  the agent alone (agent/main.ts): for hosts that have only Node.js
//   dist/upsfleet.cjs        the whole CLI (master included) for the Ansible master role; node-hid stays
//                            external (native, optional: only the usbhid source loads it, lazily)
//   dist/dashboard/          the web dashboard the master serves at / (scripts/build-dashboard.mjs)
// CommonJS output: pino, ws and yaml are CommonJS and `require` node built-ins, which an ESM bundle cannot.
import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { agentNodeFlags } from './agent-node-flags.mjs';
import { buildDashboard } from './build-dashboard.mjs';
import { BUNDLE_EXTERNALS, bundleOptions } from './bundle-options.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

for (const [entry, outfile] of [
  ['agent/main.ts', 'dist/upsfleet-agent.cjs'],
  ['cli/main.ts', 'dist/upsfleet.cjs'],
]) {
  // cli/main.ts starts with its own #! line, which esbuild keeps (before the banner)
  // the agent run by hand (./upsfleet-agent.cjs) gets its unit's memory flags too (env -S splits them)
  const flags = entry.startsWith('agent/') ? agentNodeFlags() : [];
  const hashbang = readFileSync(entry, 'utf8').startsWith('#!')
    ? ''
    : flags.length > 0
      ? `#!/usr/bin/env -S node ${flags.join(' ')}\n`
      : '#!/usr/bin/env node\n';
  // e-mail (nodemailer, loaded lazily by shared/notify/smtp-send.ts) stays out of the one-file agent
  const external = entry.startsWith('agent/') ? [...BUNDLE_EXTERNALS, 'nodemailer'] : BUNDLE_EXTERNALS;
  // Debian 12's own nodejs is 18: the artefacts run there too
  const options = bundleOptions({ root: ROOT, entry, outfile, target: 'node18', hashbang, external });
  const result = await build({ ...options, metafile: true });
  if (entry.startsWith('agent/')) {
    const inputs = Object.keys(result.metafile.inputs);
    const leaked = inputs.filter((p) => p.startsWith('master/') || p.includes('node-hid'));
    if (leaked.length > 0)
      throw new Error(`the agent bundle must not contain master/ or node-hid: ${leaked.join(', ')}`);
  }
  chmodSync(outfile, 0o755);
}

await buildDashboard();
