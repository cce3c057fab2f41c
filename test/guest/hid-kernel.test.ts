/**
 * The USB path on a real Linux kernel (issue 11): Debian's packaged kernel boots in QEMU with an initramfs
 * holding node, node-hid, the project and the captures; inside, `upsfleet emulate` makes kernel HID devices
 * through /dev/uhid and test/guest/in-guest/hid-kernel.guest.ts runs the node-hid binding against them.
 * Each guest test comes back over the serial console and becomes a test here, with its name and error.
 * Skips (with the reason) where QEMU, busybox-static or the kernel package cannot be had; `.ci/run` installs
 * them. TCG boots to /init in about 12 s; the whole run takes a few minutes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildInitrd, nodeHidProblem } from './guest-image.js';
import { prepareKernel } from './guest-kernel.js';
import { bootGuest, findOnPath, QEMU } from './qemu-guest.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = process.env.UPSFLEET_HID_FIXTURES ?? resolve(ROOT, '..', 'shared', 'fixtures', 'hid');
const GUEST_TIMEOUT_MS = 20 * 60_000;

/** Root may write /var/cache (what .ci/run fills); anyone else caches under node_modules/.cache. */
function cacheDir(): string {
  if (process.env.UPSFLEET_GUEST_CACHE) return process.env.UPSFLEET_GUEST_CACHE;
  return process.getuid?.() === 0
    ? '/var/cache/upsfleet-guest'
    : join(ROOT, 'node_modules', '.cache', 'upsfleet-guest');
}

function missing(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return 'the guest suite runs on Linux x86-64 only';
  if (!findOnPath(QEMU)) return `${QEMU} not found (Debian: apt-get install qemu-system-x86)`;
  if (!existsSync('/bin/busybox')) return '/bin/busybox not found (Debian: apt-get install busybox-static)';
  if (!findOnPath('dpkg-deb')) return 'dpkg-deb not found (the kernel package is unpacked with it)';
  if (!existsSync(FIXTURES)) return `no captures at ${FIXTURES} (UPSFLEET_HID_FIXTURES)`;
  return undefined;
}

test('HID on a real Linux kernel in a QEMU guest (uhid devices from every capture, node-hid on hidraw)', {
  timeout: GUEST_TIMEOUT_MS + 5 * 60_000,
}, async (t) => {
  const why = missing();
  if (why) return t.skip(why);
  const hid = nodeHidProblem();
  // not a skip: on Linux x86-64 node-hid ships this binding, and without it the master cannot read a UPS
  assert.equal(hid, undefined, hid);
  const kernel = prepareKernel(cacheDir());
  if (typeof kernel === 'string') return t.skip(kernel);

  const work = mkdtempSync(join(tmpdir(), 'upsfleet-guest-'));
  try {
    const initrd = await buildInitrd(kernel, cacheDir(), work, FIXTURES);
    const verbose = process.env.UPSFLEET_GUEST_VERBOSE === '1';
    const run = await bootGuest({
      vmlinuz: kernel.vmlinuz,
      initrd,
      timeoutMs: GUEST_TIMEOUT_MS,
      ...(verbose ? { onLine: (line: string) => process.stderr.write(`guest| ${line}\n`) } : {}),
    });
    const tail = () => run.console.slice(-60).join('\n');
    assert.ok(run.booted, `the guest did not reach its test runner; console:\n${tail()}`);
    assert.match(run.booted, /uhid=yes/, `no /dev/uhid in the guest; console:\n${tail()}`);

    for (const result of run.results) {
      // a parent that failed only because a child failed is reported by that child
      if (result.failureType === 'subtestsFailed') continue;
      const name = result.path.join(' > ');
      const options = {
        ...(result.todo ? { todo: result.todo } : {}),
        ...(result.skip ? { skip: result.skip } : {}),
      };
      await t.test(name, options, () => {
        if (result.status === 'fail') throw new Error(result.error ?? 'failed in the guest');
      });
    }
    assert.ok(run.results.length > 0, `no results came back; console:\n${tail()}`);
    assert.equal(
      run.timedOut,
      false,
      `the guest ran out of time (${GUEST_TIMEOUT_MS} ms); console:\n${tail()}`,
    );
    assert.equal(run.exitCode, 0, `the guest's test runner failed; console:\n${tail()}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
