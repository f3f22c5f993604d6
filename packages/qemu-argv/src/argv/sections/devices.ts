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

export function audio(b: Build): void {
  for (const a of b.def.devices?.audio ?? []) {
    add(b, '-audiodev', jsonProps({ id: `audio${a.id}`, driver: a.type }));
  }
}

export function memballoon(b: Build): void {
  const m = b.def.devices?.memballoon;
  if (!m || m.model !== 'virtio') return;
  add(
    b,
    '-device',
    jsonProps({ driver: 'virtio-balloon-pci', id: m.alias?.name, ...pciAddressProps(b.def, m.address) }),
  );
}

/** seccomp sandbox (qemu.conf `seccomp_sandbox`) and timestamps in QEMU's log. */
export function tail(b: Build): void {
  if (b.ctx.conf.seccompSandbox !== 0) {
    add(b, '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
  }
  add(b, '-msg', 'timestamp=on');
}
