// Writes the man page (docs/man/upsfleet.1) and the bash completion (deploy/bash-completion/upsfleet) from the
// command table (cli/command-specs.ts). `npm run docs:cli`; a test checks both are current.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bashCompletion } from '../cli/docs/bash-completion.js';
import { agentManPage, manPage } from '../cli/docs/man-page.js';

export const CLI_DOCS: ReadonlyArray<{ path: string; text: () => string }> = [
  { path: 'docs/man/upsfleet.1', text: manPage },
  { path: 'docs/man/upsfleet-agent.1', text: agentManPage },
  { path: 'deploy/bash-completion/upsfleet', text: bashCompletion },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const doc of CLI_DOCS) {
    mkdirSync(dirname(doc.path), { recursive: true });
    writeFileSync(doc.path, doc.text());
    console.log(`wrote ${doc.path}`);
  }
}
