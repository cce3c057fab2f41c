import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ErrorCodes, UpsfleetError } from '../../../shared/errors.js';

it('docs/ERRORS.md lists every error code of the catalogue (npm run docs:errors)', () => {
  const doc = readFileSync('docs/ERRORS.md', 'utf8');
  const missing = Object.keys(ErrorCodes).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, [], `run npm run docs:errors; missing: ${missing.join(', ')}`);
});

it('errors carry their code and serialise it for JSON logs', () => {
  const err = new UpsfleetError('CONFIG_INVALID', 'bad', { file: 'x.yaml' });
  assert.deepEqual(err.toJSON(), { code: 'CONFIG_INVALID', message: 'bad', file: 'x.yaml' });
});
