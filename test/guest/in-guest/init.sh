#!/bin/sh
# /init of the QEMU guest (busybox sh): mount the kernel's file systems, load the HID modules, run the guest
# suite with its results on the serial console, then power the guest off (only the guest: this is its PID 1).
export PATH=/bin:/usr/bin HOME=/tmp UPSFLEET_HID_FIXTURES=/fixtures UPSFLEET_LOG_FORMAT=json UV_THREADPOOL_SIZE=8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# loopback for the master's listeners (a bare kernel leaves lo down)
ifconfig lo 127.0.0.1 up
for m in /modules/*.ko; do
  insmod "$m" || echo "@@UPSFLEET-GUEST insmod-failed $m"
done
echo "@@UPSFLEET-GUEST booted $(uname -r) uhid=$(test -c /dev/uhid && echo yes || echo no)"
cd /upsfleet || poweroff -f
# upsfleet.only=REGEX on the kernel command line (UPSFLEET_GUEST_ONLY on the host) runs the matching tests only
only=$(sed -n 's/.*upsfleet\.only=\([^ ]*\).*/\1/p' /proc/cmdline)
node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=./guest-reporter.mjs \
  ${only:+--test-name-pattern="$only"} guest-suite.cjs
echo "@@UPSFLEET-GUEST exit $?"
poweroff -f
