/**
 * Test networks claim their /24 atomically: two labs started at once with the same seed get different
 * subnets, a claim left by a dead process is taken over, a live one is not.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { claimSubnet } from '../../support/subnet-claim.js';

const root = process.getuid?.() === 0;
const DIR = '/run/upsfleet-test-subnets';

describe('test subnet claims', { skip: root ? false : 'needs root (/run)' }, () => {
  it('two claims with the same seed get different subnets; a released one is free again', () => {
    const a = claimSubnet('10.215', 0);
    const b = claimSubnet('10.215', 0);
    try {
      assert.notEqual(a.net, b.net);
      assert.equal(readFileSync(`${DIR}/${a.net}/pid`, 'utf8'), String(process.pid));
    } finally {
      a.release();
      b.release();
    }
    const c = claimSubnet('10.215', 0);
    c.release();
    assert.equal(c.net, a.net);
  });

  it('a claim held by a live process is skipped; one left by a dead process is taken over', () => {
    const dead = spawnSync('true').pid;
    assert.ok(dead);
    mkdirSync(`${DIR}/10.215.1`, { recursive: true });
    writeFileSync(`${DIR}/10.215.1/pid`, String(process.ppid));
    try {
      const skipped = claimSubnet('10.215', 0);
      skipped.release();
      assert.equal(skipped.net, '10.215.2');
      writeFileSync(`${DIR}/10.215.1/pid`, String(dead));
      const taken = claimSubnet('10.215', 0);
      assert.equal(taken.net, '10.215.1');
      assert.equal(readFileSync(`${DIR}/10.215.1/pid`, 'utf8'), String(process.pid));
      taken.release();
    } finally {
      rmSync(`${DIR}/10.215.1`, { recursive: true, force: true });
    }
  });
});
