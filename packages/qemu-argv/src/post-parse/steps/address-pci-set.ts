/**
 * The set of PCI buses and the functions in use on each (libvirt's virDomainPCIAddressSet,
 * src/conf/domain_addr.c): reserving a given address, finding the next free one, and, in the
 * dry run, growing the topology with the controllers a new device needs.
 */
import { type VirError, virReportError } from '@qvirt/core';
import {
  AGGREGATE_SLOT,
  AUTOASSIGN,
  busProperties,
  connectTypeToModel,
  DMI_TO_PCI_BRIDGE,
  HOTPLUGGABLE,
  INTEGRATED,
  PCI_BRIDGE,
  PCI_DEVICE,
  PCI_EXPANDER_BUS,
  PCIE_DEVICE,
  PCIE_EXPANDER_BUS,
  PCIE_ROOT_PORT,
  PCIE_SWITCH_DOWNSTREAM_PORT,
  PCIE_SWITCH_UPSTREAM_PORT,
  PCIE_TO_PCI_BRIDGE,
  type PciControllerModel,
  TYPES_ENDPOINT,
  TYPES_MASK,
} from './address-pci-flags.js';

export interface PciAddr {
  domain: number;
  bus: number;
  slot: number;
  function: number;
  multi?: 'on' | 'off';
}

interface Slot {
  functions: number;
  aggregate: boolean;
}

export interface PciBus {
  model?: PciControllerModel;
  flags: number;
  minSlot: number;
  maxSlot: number;
  slots: Slot[];
}

function emptyBus(): PciBus {
  return {
    flags: 0,
    minSlot: 0,
    maxSlot: 0,
    slots: Array.from({ length: 32 }, () => ({ functions: 0, aggregate: false })),
  };
}

const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');

/** virPCIDeviceAddressAsString: `0000:00:01.1`. */
export function pciAddrString(a: PciAddr): string {
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${a.function.toString(16)}`;
}

function err(fromConfig: boolean, message: string): VirError {
  return fromConfig
    ? virReportError('XML_ERROR', 'qemu', message)
    : virReportError('INTERNAL_ERROR', 'qemu', message);
}

export class PciAddressSet {
  buses: PciBus[];
  dryRun: boolean;
  isPCIeToPCIBridgeSupported = false;

  constructor(nbuses: number, dryRun: boolean) {
    this.buses = Array.from({ length: nbuses }, emptyBus);
    this.dryRun = dryRun;
  }

  setBusModel(index: number, model: PciControllerModel, allowHotplug: boolean): void {
    const bus = this.buses[index]!;
    Object.assign(bus, busProperties(model, allowHotplug));
    bus.model = model;
  }

  busIsFullyReserved(bus: PciBus): boolean {
    for (let i = bus.minSlot; i <= bus.maxSlot; i++) if (!bus.slots[i]!.functions) return false;
    return true;
  }

  slotInUse(a: PciAddr): boolean {
    return (this.buses[a.bus]?.slots[a.slot]?.functions ?? 0) !== 0;
  }

  /** virDomainPCIAddressFlagsCompatible. */
  flagsCompatible(
    a: PciAddr,
    busFlagsIn: number,
    devFlagsIn: number,
    reportError: boolean,
    fromConfig: boolean,
  ): boolean {
    let busFlags = busFlagsIn;
    let devFlags = devFlagsIn;
    const addrStr = pciAddrString(a);
    if (devFlags & INTEGRATED) {
      if (a.bus === 0) busFlags |= AUTOASSIGN;
      else {
        if (reportError)
          throw err(
            fromConfig,
            `The device at PCI address ${addrStr} needs to be an integrated device (bus=0)`,
          );
        return false;
      }
    }
    if (fromConfig) {
      if (busFlags & TYPES_ENDPOINT) busFlags |= TYPES_ENDPOINT;
      if (devFlags & PCI_BRIDGE) devFlags |= PCI_DEVICE;
    } else if (devFlags & AUTOASSIGN && !(busFlags & AUTOASSIGN)) {
      if (reportError)
        throw err(
          fromConfig,
          `The device at PCI address ${addrStr} was auto-assigned this address, but the PCI controller with index='${a.bus}' doesn't allow auto-assignment`,
        );
      return false;
    }
    if (devFlags & HOTPLUGGABLE && !(busFlags & HOTPLUGGABLE)) {
      if (reportError)
        throw err(
          fromConfig,
          `The device at PCI address ${addrStr} requires hotplug capability, but the PCI controller with index='${a.bus}' doesn't support hotplug`,
        );
      return false;
    }
    if (!(devFlags & busFlags & TYPES_MASK)) {
      if (!reportError) return false;
      let connectStr: string;
      if (devFlags & PCI_DEVICE) connectStr = 'standard PCI device';
      else if (devFlags & PCIE_DEVICE) connectStr = 'PCI Express device';
      else if (devFlags & PCIE_ROOT_PORT) connectStr = 'pcie-root-port';
      else if (devFlags & PCIE_SWITCH_UPSTREAM_PORT) connectStr = 'pcie-switch-upstream-port';
      else if (devFlags & PCIE_SWITCH_DOWNSTREAM_PORT) connectStr = 'pcie-switch-downstream-port';
      else if (devFlags & DMI_TO_PCI_BRIDGE) connectStr = 'dmi-to-pci-bridge';
      else if (devFlags & PCIE_TO_PCI_BRIDGE) connectStr = 'pcie-to-pci-bridge';
      else if (devFlags & PCI_EXPANDER_BUS) connectStr = 'pci-expander-bus';
      else if (devFlags & PCIE_EXPANDER_BUS) connectStr = 'pcie-expander-bus';
      else if (devFlags & PCI_BRIDGE) connectStr = 'pci-bridge';
      else
        throw err(
          fromConfig,
          `The device at PCI address ${addrStr} has unrecognized connection type flags 0x${hex(devFlags & TYPES_MASK, 2)}`,
        );
      throw err(
        fromConfig,
        `The device at PCI address ${addrStr} cannot be plugged into the PCI controller with index='${a.bus}'. It requires a controller that accepts a ${connectStr}.`,
      );
    }
    return true;
  }

  /** virDomainPCIAddressValidate (throws on failure). */
  validate(a: PciAddr, flags: number, fromConfig: boolean): void {
    const addrStr = pciAddrString(a);
    if (this.buses.length === 0) throw err(fromConfig, 'No PCI buses available');
    if (a.domain !== 0)
      throw err(fromConfig, `Invalid PCI address ${addrStr}. Only PCI domain 0 is available`);
    if (a.bus >= this.buses.length)
      throw err(
        fromConfig,
        `Invalid PCI address ${addrStr}. Only PCI buses up to ${this.buses.length - 1} are available`,
      );
    const bus = this.buses[a.bus]!;
    this.flagsCompatible(a, bus.flags, flags, true, fromConfig);
    if (bus.minSlot && a.slot < bus.minSlot)
      throw err(fromConfig, `Invalid PCI address ${addrStr}. slot must be >= ${bus.minSlot}`);
    if (a.slot > bus.maxSlot)
      throw err(fromConfig, `Invalid PCI address ${addrStr}. slot must be <= ${bus.maxSlot}`);
    if (a.function > 7) throw err(fromConfig, `Invalid PCI address ${addrStr}. function must be <= 7`);
  }

  /**
   * virDomainPCIAddressSetGrow: add the buses needed for `a` (dry run only). May move `a` to a
   * later bus when a bridge has to be inserted first. Returns the number of buses added.
   */
  grow(a: PciAddr, flags: number): number {
    let add = a.bus - this.buses.length + 1;
    if (add <= 0) return 0;
    let model: PciControllerModel;
    let needDMIToPCIBridge = false;
    let needPCIeToPCIBridge = false;
    if (flags & PCI_DEVICE) {
      model = 'pci-bridge';
      needDMIToPCIBridge = true;
      needPCIeToPCIBridge = true;
      if (this.buses.some((b) => b.flags & PCI_BRIDGE)) {
        needDMIToPCIBridge = false;
        needPCIeToPCIBridge = false;
      }
      if (this.isPCIeToPCIBridgeSupported) needDMIToPCIBridge = false;
      else needPCIeToPCIBridge = false;
      if ((needDMIToPCIBridge || needPCIeToPCIBridge) && add === 1) {
        add++;
        a.bus++;
      }
    } else if (flags & (PCIE_DEVICE | PCIE_SWITCH_UPSTREAM_PORT)) {
      model = 'pcie-root-port';
    } else {
      const existing = connectTypeToModel(flags);
      if (existing)
        throw virReportError(
          'INTERNAL_ERROR',
          'qemu',
          `a PCI slot is needed to connect a PCI controller model='${existing}', but none is available, and it cannot be automatically added`,
        );
      throw virReportError(
        'INTERNAL_ERROR',
        'qemu',
        `Cannot automatically add a new PCI bus for a device with connect flags ${hex(flags, 2)}`,
      );
    }
    let i = this.buses.length;
    for (let k = 0; k < add; k++) this.buses.push(emptyBus());
    if (needDMIToPCIBridge) this.setBusModel(i++, 'dmi-to-pci-bridge', false);
    if (needPCIeToPCIBridge) {
      this.setBusModel(i, 'pcie-root-port', true);
      // Only the pcie-to-pci-bridge may use this root port.
      this.buses[i]!.flags = PCIE_TO_PCI_BRIDGE;
      i++;
      this.setBusModel(i++, 'pcie-to-pci-bridge', true);
    }
    for (; i < this.buses.length; i++) this.setBusModel(i, model, true);
    return add;
  }

  /** virDomainPCIAddressReserveAddrInternal. */
  reserve(a: PciAddr, flags: number, fromConfig: boolean): void {
    if (this.dryRun) this.grow(a, flags);
    this.validate(a, flags, fromConfig);
    const bus = this.buses[a.bus]!;
    const slot = bus.slots[a.slot]!;
    if (slot.functions & (1 << a.function))
      throw err(fromConfig, `Attempted double use of PCI Address ${pciAddrString(a)}`);
    if (!slot.functions && flags & AGGREGATE_SLOT) slot.aggregate = true;
    slot.functions |= 1 << a.function;
  }

  /** virDomainPCIAddressFindUnusedFunctionOnBus: advances `a` to a usable slot on its bus. */
  private findOnBus(bus: PciBus, a: PciAddr, fn: number, flags: number): boolean {
    if (!this.flagsCompatible(a, bus.flags, flags, false, false)) return false;
    while (a.slot <= bus.maxSlot) {
      const slot = bus.slots[a.slot]!;
      if (slot.functions === 0) return true;
      if (flags & AGGREGATE_SLOT && slot.aggregate) {
        if ((slot.functions & (1 << a.function)) === 0) return true;
        if (fn === -1) {
          while (a.function < 8) {
            if ((slot.functions & (1 << a.function)) === 0) return true;
            a.function++;
          }
          a.function = 0;
        }
      }
      a.slot++;
    }
    return false;
  }

  /** virDomainPCIAddressGetNextAddr (isolation groups are all 0 on x86). */
  nextAddr(flags: number, fn: number): PciAddr {
    if (this.buses.length === 0) throw virReportError('XML_ERROR', 'qemu', 'No PCI buses available');
    const a: PciAddr = { domain: 0, bus: 0, slot: 0, function: fn === -1 ? 0 : fn };
    for (a.bus = 0; a.bus < this.buses.length; a.bus++) {
      const bus = this.buses[a.bus]!;
      a.slot = bus.minSlot;
      if (this.findOnBus(bus, a, fn, flags)) return a;
    }
    // (libvirt retries empty buses with another isolation group; all groups are 0 here.)
    if (this.dryRun) {
      this.grow(a, flags);
      a.slot = this.buses[a.bus]!.minSlot;
      return a;
    }
    throw virReportError('INTERNAL_ERROR', 'qemu', 'No more available PCI slots');
  }

  /** virDomainPCIAddressReserveNextAddr: the address, or undefined in the dry run. */
  reserveNext(flags: number, fn = -1): PciAddr | undefined {
    const a = this.nextAddr(flags, fn);
    this.reserve(a, flags, false);
    return this.dryRun ? undefined : a;
  }
}
