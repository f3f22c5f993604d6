/**
 * Smaller address kinds: CCID slots of smartcards (virDomainDefMaybeAddSmartcardController) and
 * DIMM slots of memory modules (qemuDomainAssignMemorySlots).
 */
import type { CcidAddress, DimmAddress, DomainDef } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { devicesOf } from '../../domain-util.js';
import { deviceInfos, type HasAddress } from './address-devices.js';

/** A smartcard without an address takes the next slot on CCID controller 0. */
export function ccidAddresses(def: DomainDef): void {
  const cards = devicesOf(def).smartcard ?? [];
  for (const card of cards) {
    if (card.address) continue;
    let max = -1;
    for (const other of cards) {
      if (other.address?.type !== 'ccid') continue;
      const a = other.address as CcidAddress;
      if ((a.controller ?? 0) === 0 && (a.slot ?? 0) > max) max = a.slot ?? 0;
    }
    card.address = { type: 'ccid', controller: 0, slot: max + 1 };
  }
}

/** DIMM and NVDIMM modules take the free memory slots in order (with memory hotplug only). */
export function dimmAddresses(def: DomainDef): void {
  const slots = def.maxMemory?.slots ?? 0;
  if (slots === 0 && !def.maxMemory?.value) return;
  const used = new Array<boolean>(slots).fill(false);
  const mems = def.devices?.memory ?? [];
  for (const m of mems) {
    if (m.address?.type !== 'dimm') continue;
    const slot = (m.address as DimmAddress).slot ?? 0;
    if (slot < slots) used[slot] = true;
  }
  for (const m of mems) {
    if (m.model !== 'dimm' && m.model !== 'nvdimm') continue;
    if (m.address?.type === 'dimm') continue;
    const slot = used.indexOf(false);
    if (slot < 0) throw virReportError('INTERNAL_ERROR', 'qemu', 'failed to find an empty memory slot');
    used[slot] = true;
    m.address = { type: 'dimm', slot };
  }
}

/**
 * libvirt reads absent address attributes as 0 and prints them all back: complete the addresses
 * given in the configuration (a PCI address that is all zero stays empty, to be assigned).
 */
export function addressDefaults(def: DomainDef): void {
  for (const { dev } of deviceInfos(def, true)) {
    const a = dev.address as Record<string, unknown> | undefined;
    if (!a) continue;
    let fields: string[];
    switch (a.type) {
      case 'pci':
        fields = a.domain || a.bus || a.slot ? ['domain', 'bus', 'slot', 'function'] : [];
        break;
      case 'drive':
        fields = ['controller', 'bus', 'target', 'unit'];
        break;
      case 'virtio-serial':
        fields = ['controller', 'bus', 'port'];
        break;
      case 'ccid':
        fields = ['controller', 'slot'];
        break;
      case 'usb':
        fields = ['bus'];
        // virDomainDeviceUSBAddressParsePort: up to four dot-separated port numbers.
        if (typeof a.port === 'string' && !/^\d+(\.\d+){0,3}$/.test(a.port)) {
          throw virReportError('INTERNAL_ERROR', 'qemu', "Cannot parse <address> 'port' attribute");
        }
        break;
      case 'dimm':
        fields = ['slot'];
        break;
      default:
        fields = [];
    }
    for (const f of fields) a[f] ??= 0;
  }
}

/**
 * spapr-vio registers (qemuDomainAssignSpaprVIOAddresses), which apply on every machine type:
 * spapr-vlan interfaces, ibmvscsi controllers and spapr-vio serial ports sit on the spapr-vio
 * bus; a device without a `reg` takes its kind's default, moved up by 0x1000 while taken.
 */
/** core does not export the spapr-vio address type. */
interface SpaprVioAddress {
  type: 'spapr-vio';
  reg?: number;
}

export function spaprVioAddresses(def: DomainDef): void {
  const d = def.devices ?? {};
  const infos = deviceInfos(def);
  const assign = (dev: HasAddress, defaultReg: number, force: boolean): void => {
    if (force && dev.address?.type !== 'spapr-vio') dev.address = { type: 'spapr-vio' };
    if (dev.address?.type !== 'spapr-vio') return;
    const a = dev.address as SpaprVioAddress;
    const userReg = a.reg !== undefined;
    if (!userReg) a.reg = defaultReg;
    const taken = () =>
      infos.some(
        (o) =>
          o.dev !== dev &&
          o.dev.address?.type === 'spapr-vio' &&
          (o.dev.address as SpaprVioAddress).reg !== undefined &&
          (o.dev.address as SpaprVioAddress).reg === a.reg,
      );
    while (taken()) {
      if (userReg) {
        throw virReportError(
          'XML_ERROR',
          'qemu',
          `spapr-vio address 0x${(a.reg ?? 0).toString(16)} already in use`,
        );
      }
      a.reg = (a.reg ?? 0) + 0x1000;
    }
  };
  for (const net of d.interface ?? []) assign(net, 0x1000, net.model?.type?.toLowerCase() === 'spapr-vlan');
  for (const c of d.controller ?? []) assign(c, 0x2000, c.type === 'scsi' && c.model === 'ibmvscsi');
  for (const s of d.serial ?? []) assign(s, 0x30000000, s.target?.type === 'spapr-vio-serial');
  if (d.nvram) assign(d.nvram, 0x3000, false);
  for (const t of d.tpm ?? []) assign(t, 0x4000, false);
}
