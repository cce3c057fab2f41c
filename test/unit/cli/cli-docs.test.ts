/** The man page and the bash completion are generated from the command table and committed current (npm run docs:cli). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COMMAND_SPECS } from '../../../cli/command-specs.js';
import { CLI_DOCS } from '../../../scripts/gen-cli-docs.js';

describe('generated CLI docs', () => {
  for (const doc of CLI_DOCS) {
    it(`${doc.path} is current (npm run docs:cli)`, () => {
      assert.equal(readFileSync(doc.path, 'utf8'), doc.text(), `run npm run docs:cli: ${doc.path} is stale`);
    });
  }

  it('the man page names every command and option, and groff reads it without a warning', (t) => {
    const page = readFileSync('docs/man/upsfleet.1', 'utf8');
    for (const spec of COMMAND_SPECS) {
      assert.ok(page.includes(`.B upsfleet ${spec.name.replaceAll('-', '\\-')}\n`), spec.name);
      for (const o of spec.options)
        assert.ok(page.includes(`\\-\\-${o.name.replaceAll('-', '\\-')}`), `${spec.name} --${o.name}`);
    }
    if (spawnSync('sh', ['-c', 'command -v groff']).status !== 0) {
      t.skip('groff not installed (Debian package groff-base): the roff check is skipped');
      return;
    }
    const r = spawnSync('groff', ['-man', '-ww', '-z', 'docs/man/upsfleet.1'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });
});
