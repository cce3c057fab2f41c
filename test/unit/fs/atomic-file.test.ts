import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeFileAtomic } from '../../../shared/fs/atomic-file.js';

describe('writeFileAtomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upsfleet-atomic-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces the content whole, makes the directory, applies the mode, and leaves nothing beside it', () => {
    const file = join(dir, 'sub', 'state.json');
    writeFileAtomic(file, 'one\n', { mode: 0o600 });
    writeFileAtomic(file, 'two\n', { mode: 0o600 });
    assert.equal(readFileSync(file, 'utf8'), 'two\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['state.json']);
  });

  it('durable: false writes the same way (no fsync)', () => {
    const file = join(dir, 'fast.json');
    writeFileAtomic(file, '{"a":1}\n', { durable: false });
    assert.equal(readFileSync(file, 'utf8'), '{"a":1}\n');
    assert.equal(statSync(file).mode & 0o777, 0o644);
  });

  it('a rename that fails leaves the old content and no temporary file, and throws', () => {
    // a non-empty directory where the file should go: the rename over it fails
    const target = join(dir, 'blocked');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    assert.throws(() => writeFileAtomic(target, 'new\n'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('blocked.')),
      [],
    );
  });
});
