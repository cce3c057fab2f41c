// Writes docs/ERRORS.md from the errors catalogue (shared/errors.ts). `npm run docs:errors`; a test checks it is current.
import { writeFileSync } from 'node:fs';
import { ErrorCodes } from '../shared/errors.js';

export function errorsDoc(): string {
  const rows = Object.entries(ErrorCodes).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`);
  return [
    '# Error codes',
    '',
    'Every error upsfleet raises or logs carries one of these stable codes (`code` in JSON logs, `[CODE]` at the',
    'end of a CLI error line). Scripts and alerts should match on the code, never on the message text.',
    'This page is generated from `shared/errors.ts` by `npm run docs:errors`.',
    '',
    '| code | meaning |',
    '|---|---|',
    ...rows,
    '',
    'WebSocket close codes sent to agents are listed in `shared/protocol/messages.ts` (`CloseCodes`, 4000-4099).',
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/ERRORS.md', import.meta.url), errorsDoc());
}
