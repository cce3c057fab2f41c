/**
 * Whether a report descriptor speaks the HID Power Device (0x84) or Battery System (0x85) usage pages
 * anywhere, not only in its top-level collection: composite devices and some UPSes put them deeper, or
 * open with a vendor page. A plain item scan (no full parse), so a descriptor our parser refuses still
 * shows up in `upsfleet probe`'s list.
 */
const POWER_PAGES = new Set([0x84, 0x85]);

/** Every short item of a descriptor as [prefix without size bits, size, data], long items skipped. */
function* items(descriptor: Uint8Array): Generator<[number, number, number]> {
  let i = 0;
  while (i < descriptor.length) {
    const prefix = descriptor[i]!;
    if (prefix === 0xfe) {
      i += 3 + (descriptor[i + 1] ?? 0);
      continue;
    }
    const size = [0, 1, 2, 4][prefix & 3]!;
    let data = 0;
    for (let b = size - 1; b >= 0; b--) data = data * 256 + (descriptor[i + 1 + b] ?? 0);
    yield [prefix & 0xfc, size, data];
    i += 1 + size;
  }
}

/** The usage page in force at the first top-level Collection: what hidapi lists as a device's usagePage. */
export function topLevelUsagePage(descriptor: Uint8Array): number | undefined {
  let page: number | undefined;
  for (const [item, , data] of items(descriptor)) {
    if (item === 0x04) page = data;
    if (item === 0xa0) return page;
  }
  return undefined;
}

export function usesPowerDevicePages(descriptor: Uint8Array): boolean {
  for (const [item, size, data] of items(descriptor)) {
    // Usage Page (global tag 0), or an extended Usage (local tag 0, 4 bytes) that carries its page.
    if (item === 0x04 && POWER_PAGES.has(data)) return true;
    if (item === 0x08 && size === 4 && POWER_PAGES.has(Math.floor(data / 0x10000))) return true;
  }
  return false;
}
