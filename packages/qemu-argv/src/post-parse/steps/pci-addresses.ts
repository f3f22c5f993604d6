import type { DomainDef, PciAddress } from '@qvirt/core';
import { devicesOf, isI440fx } from '../../domain-util.js';

function pci(slot: number, fn = 0): PciAddress {
  return { type: 'pci', domain: 0, bus: 0, slot, function: fn };
}

/**
 * PCI slots on the i440fx root bus the way libvirt hands them out: the PIIX3 functions in slot 1,
 * the primary video card in slot 2, then every other PCI device in libvirt's device order.
 */
export function pciAddresses(def: DomainDef): void {
  if (!isI440fx(def)) return;
  const devices = devicesOf(def);
  const used = new Set<number>([0, 1]);
  for (const c of devices.controller ?? []) {
    if (c.type === 'ide' && c.index === 0 && !c.address) c.address = pci(1, 1);
    if (c.type === 'usb' && c.index === 0 && c.model === 'piix3-uhci' && !c.address) c.address = pci(1, 2);
  }
  // Slot 2 is the primary video card's when there is one.
  const primaryVideo = devices.video?.[0];
  if (primaryVideo) {
    primaryVideo.address ??= pci(2);
    used.add(2);
  }
  const next = (): number => {
    let s = 2;
    while (used.has(s)) s++;
    used.add(s);
    return s;
  };
  for (const net of devices.interface ?? []) if (!net.address) net.address = pci(next());
  if (devices.memballoon && devices.memballoon.model === 'virtio' && !devices.memballoon.address) {
    devices.memballoon.address = pci(next());
  }
}
