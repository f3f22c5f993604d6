/** Where a `-device` plugs in: the `bus`/`addr` (or `unit`) properties from its `<address>`. */
import { type Address, type DomainDef, isPciAddress } from '@qvirt/core';
import type { PropObject } from './props.js';

/** QEMU's name for the bus a PCI controller provides: `pci.N`, or `pcie.0` for the PCIe root. */
export function pciBusName(def: DomainDef, index: number): string {
  const root = (def.devices?.controller ?? []).find((c) => c.type === 'pci' && (c.index ?? 0) === index);
  if (index === 0 && root?.model === 'pcie-root') return 'pcie.0';
  return root?.alias?.name ?? `pci.${index}`;
}

/** `addr` of a PCI address: `0xS` or `0xS.0xF`. */
export function pciAddr(slot: number, fn: number): string {
  return fn === 0 ? `0x${slot.toString(16)}` : `0x${slot.toString(16)}.0x${fn.toString(16)}`;
}

export function pciAddressProps(def: DomainDef, address: Address | undefined): PropObject {
  if (!isPciAddress(address)) return {};
  const a = address;
  return {
    bus: pciBusName(def, a.bus ?? 0),
    ...(a.multifunction === 'on' ? { multifunction: true } : {}),
    addr: pciAddr(a.slot ?? 0, a.function ?? 0),
  };
}
