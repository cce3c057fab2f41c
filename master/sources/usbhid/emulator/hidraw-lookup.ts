/**
 * Which /dev/hidrawN the kernel made for a uhid device: the hidraw class in sysfs links each node to its HID
 * device, whose uevent carries the `phys` string the emulator gave at creation (unique per emulator).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function findHidrawByPhys(phys: string, sysRoot = '/sys'): string | undefined {
  const classDir = join(sysRoot, 'class', 'hidraw');
  let names: string[];
  try {
    names = readdirSync(classDir);
  } catch {
    return undefined;
  }
  for (const name of names.sort()) {
    try {
      const uevent = readFileSync(join(classDir, name, 'device', 'uevent'), 'utf8');
      if (uevent.split('\n').includes(`HID_PHYS=${phys}`)) return `/dev/${name}`;
    } catch {
      // gone between the listing and the read
    }
  }
  return undefined;
}
