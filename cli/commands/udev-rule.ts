/**
 * `upsfleet udev-rule`: prints the udev rule that lets the upsfleet group open the UPS's hidraw node
 * (for the detected UPS or the given --vendor/--product), where it goes, and how to load it.
 */
import type { HidBinding, HidDeviceInfo } from '../../master/sources/usbhid/bindings/hid-binding.js';
import { NodeHidBinding } from '../../master/sources/usbhid/bindings/node-hid-binding.js';
import { KNOWN_UPS_VENDOR_IDS } from '../../master/sources/usbhid/mapping/vendor-tables.js';
import { type CommandHandler, ExitCodes } from './command.js';

export const UDEV_RULE_FILE = '/etc/udev/rules.d/90-upsfleet-ups.rules';
const USAGE = 'usage: upsfleet udev-rule [--vendor VID --product PID] [--group upsfleet]';

export function udevRule(vendorId: string, productId: string, group: string): string {
  return `SUBSYSTEM=="hidraw", ATTRS{idVendor}=="${vendorId}", ATTRS{idProduct}=="${productId}", MODE="0660", GROUP="${group}"`;
}

export interface UdevRuleDeps {
  binding?: () => HidBinding;
}

export function createUdevRuleCommand(deps: UdevRuleDeps = {}): CommandHandler {
  const makeBinding = deps.binding ?? (() => new NodeHidBinding());
  return async (argv, io) => {
    let vendor: string | undefined;
    let product: string | undefined;
    let group = 'upsfleet';
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      const next = () => argv[++i];
      if (arg === '--vendor') vendor = next();
      else if (arg === '--product') product = next();
      else if (arg === '--group') group = next() ?? '';
      else if (arg === '--help' || arg === '-h') {
        io.stdout(`${USAGE}\n`);
        return ExitCodes.OK;
      } else {
        io.stderr(`upsfleet udev-rule: unknown argument ${arg}\n${USAGE}\n`);
        return ExitCodes.USAGE;
      }
    }
    const hex = /^(0x)?[0-9a-fA-F]{4}$/;
    if (
      (vendor === undefined) !== (product === undefined) ||
      (vendor && !hex.test(vendor)) ||
      (product && !hex.test(product))
    ) {
      io.stderr(
        `upsfleet udev-rule: give both --vendor and --product as 4 hex digits (e.g. 051d 0002)\n${USAGE}\n`,
      );
      return ExitCodes.USAGE;
    }
    if (!/^[a-z_][a-z0-9_-]*$/i.test(group)) {
      io.stderr(`upsfleet udev-rule: --group must be a group name\n`);
      return ExitCodes.USAGE;
    }
    let devices: Array<Pick<HidDeviceInfo, 'vendorId' | 'productId'>>;
    if (vendor && product) {
      devices = [
        {
          vendorId: vendor.toLowerCase().replace(/^0x/, ''),
          productId: product.toLowerCase().replace(/^0x/, ''),
        },
      ];
    } else {
      try {
        const all = await makeBinding().list();
        devices = all.filter((d) => d.usagePage === 0x84 || KNOWN_UPS_VENDOR_IDS.has(d.vendorId));
      } catch (err) {
        io.stderr(
          `upsfleet udev-rule: cannot list HID devices (${(err as Error).message}); give --vendor and --product\n`,
        );
        return ExitCodes.NO_DEVICE;
      }
      if (devices.length === 0) {
        io.stderr('upsfleet udev-rule: no HID UPS detected; give --vendor and --product (see `lsusb`)\n');
        return ExitCodes.NO_DEVICE;
      }
    }
    const unique = [...new Map(devices.map((d) => [`${d.vendorId}:${d.productId}`, d])).values()];
    io.stdout(`# ${UDEV_RULE_FILE}: lets group ${group} read and control the UPS through /dev/hidraw*\n`);
    for (const d of unique) io.stdout(`${udevRule(d.vendorId, d.productId, group)}\n`);
    io.stderr(
      `\nInstall with:\n  upsfleet udev-rule${vendor ? ` --vendor ${vendor} --product ${product}` : ''}${group !== 'upsfleet' ? ` --group ${group}` : ''} | sudo tee ${UDEV_RULE_FILE}\n` +
        '  sudo udevadm control --reload-rules && sudo udevadm trigger --subsystem-match=hidraw\n' +
        `and make sure the service user is in group ${group} (sudo usermod -aG ${group} USER).\n`,
    );
    return ExitCodes.OK;
  };
}

export const udevRuleCommand: CommandHandler = createUdevRuleCommand();
