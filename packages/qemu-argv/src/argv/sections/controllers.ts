import { add, type Build } from '../build.js';
import { pciAddressProps } from '../device-address.js';
import { jsonProps } from '../props.js';

const USB_DRIVERS: Record<string, string> = { 'piix3-uhci': 'piix3-usb-uhci', 'qemu-xhci': 'qemu-xhci' };

export function controllers(b: Build): void {
  for (const c of b.def.devices?.controller ?? []) {
    if (c.type !== 'usb' || !c.model || !USB_DRIVERS[c.model]) continue;
    add(
      b,
      '-device',
      jsonProps({ driver: USB_DRIVERS[c.model], id: c.alias?.name, ...pciAddressProps(b.def, c.address) }),
    );
  }
}

/** USB hubs (`<hub type='usb'>`). */
export function hubs(_b: Build): void {}

/** Controllers that need their own -device after hubs (qemuBuildControllersByTypeCommandLine). */
export function controllersByType(_b: Build): void {}
