import { add, type Build } from '../build.js';
import { pciAddressProps } from '../device-address.js';
import { jsonProps } from '../props.js';

export function memballoon(b: Build): void {
  const m = b.def.devices?.memballoon;
  if (m?.model !== 'virtio') return;
  add(
    b,
    '-device',
    jsonProps({ driver: 'virtio-balloon-pci', id: m.alias?.name, ...pciAddressProps(b.def, m.address) }),
  );
}

export function memoryDevices(_b: Build): void {}

export function nvram(_b: Build): void {}

export function vmcoreinfo(_b: Build): void {}

export function panics(_b: Build): void {}

export function shmems(_b: Build): void {}

export function vsock(_b: Build): void {}
