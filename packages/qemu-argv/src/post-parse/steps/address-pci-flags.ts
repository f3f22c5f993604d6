/**
 * PCI connection flags: what kind of slot a device needs (libvirt's virDomainPCIConnectFlags and
 * qemuDomainDeviceCalculatePCIConnectFlags) and what each PCI controller model offers
 * downstream (virDomainPCIAddressBusSetModel).
 */

import { knownNetModel } from '../../libvirt-names.js';
import type { DeviceInfo } from './address-devices.js';

export const AUTOASSIGN = 1 << 0;
export const HOTPLUGGABLE = 1 << 1;
export const INTEGRATED = 1 << 2;
export const AGGREGATE_SLOT = 1 << 3;
export const PCI_DEVICE = 1 << 4;
export const PCIE_DEVICE = 1 << 5;
export const PCIE_ROOT_PORT = 1 << 6;
export const PCIE_SWITCH_UPSTREAM_PORT = 1 << 7;
export const PCIE_SWITCH_DOWNSTREAM_PORT = 1 << 8;
export const DMI_TO_PCI_BRIDGE = 1 << 9;
export const PCI_EXPANDER_BUS = 1 << 10;
export const PCIE_EXPANDER_BUS = 1 << 11;
export const PCI_BRIDGE = 1 << 12;
export const PCIE_TO_PCI_BRIDGE = 1 << 13;

export const TYPES_MASK =
  PCI_DEVICE |
  PCIE_DEVICE |
  PCIE_SWITCH_UPSTREAM_PORT |
  PCIE_SWITCH_DOWNSTREAM_PORT |
  PCIE_ROOT_PORT |
  DMI_TO_PCI_BRIDGE |
  PCI_EXPANDER_BUS |
  PCIE_EXPANDER_BUS |
  PCI_BRIDGE |
  PCIE_TO_PCI_BRIDGE;
export const TYPES_ENDPOINT = PCI_DEVICE | PCIE_DEVICE;

export const PCI_CONTROLLER_MODELS = [
  'pci-root',
  'pcie-root',
  'pci-bridge',
  'dmi-to-pci-bridge',
  'pcie-root-port',
  'pcie-switch-upstream-port',
  'pcie-switch-downstream-port',
  'pci-expander-bus',
  'pcie-expander-bus',
  'pcie-to-pci-bridge',
] as const;
export type PciControllerModel = (typeof PCI_CONTROLLER_MODELS)[number];

/** virDomainPCIControllerModelToConnectType: how a PCI controller plugs in upstream. */
export function controllerConnectType(model: string | undefined): number {
  switch (model) {
    case 'pci-bridge':
      return PCI_BRIDGE;
    case 'pci-expander-bus':
      return PCI_EXPANDER_BUS;
    case 'pcie-expander-bus':
      return PCIE_EXPANDER_BUS;
    case 'dmi-to-pci-bridge':
      return DMI_TO_PCI_BRIDGE;
    case 'pcie-to-pci-bridge':
      return PCIE_TO_PCI_BRIDGE;
    case 'pcie-root-port':
      return PCIE_ROOT_PORT | AGGREGATE_SLOT;
    case 'pcie-switch-upstream-port':
      return PCIE_SWITCH_UPSTREAM_PORT;
    case 'pcie-switch-downstream-port':
      return PCIE_SWITCH_DOWNSTREAM_PORT;
    default:
      return 0;
  }
}

/** virDomainPCIControllerConnectTypeToModel. */
export function connectTypeToModel(flags: number): PciControllerModel | undefined {
  if (flags & PCIE_ROOT_PORT) return 'pcie-root-port';
  if (flags & PCIE_SWITCH_UPSTREAM_PORT) return 'pcie-switch-upstream-port';
  if (flags & PCIE_SWITCH_DOWNSTREAM_PORT) return 'pcie-switch-downstream-port';
  if (flags & DMI_TO_PCI_BRIDGE) return 'dmi-to-pci-bridge';
  if (flags & PCI_EXPANDER_BUS) return 'pci-expander-bus';
  if (flags & PCIE_EXPANDER_BUS) return 'pcie-expander-bus';
  if (flags & PCI_BRIDGE) return 'pci-bridge';
  return undefined;
}

/** What a bus of each controller model accepts downstream, and its usable slots. */
export function busProperties(
  model: PciControllerModel,
  allowHotplug: boolean,
): { flags: number; minSlot: number; maxSlot: number } {
  const hp = allowHotplug ? HOTPLUGGABLE : 0;
  switch (model) {
    case 'pci-root':
      return { flags: AUTOASSIGN | PCI_DEVICE | PCI_BRIDGE | PCI_EXPANDER_BUS | hp, minSlot: 1, maxSlot: 31 };
    case 'pci-bridge':
      return { flags: AUTOASSIGN | PCI_DEVICE | PCI_BRIDGE | hp, minSlot: 1, maxSlot: 31 };
    case 'pci-expander-bus':
      return { flags: AUTOASSIGN | PCI_DEVICE | PCI_BRIDGE | hp, minSlot: 0, maxSlot: 31 };
    case 'pcie-root':
      return {
        flags: PCIE_DEVICE | PCIE_ROOT_PORT | DMI_TO_PCI_BRIDGE | PCIE_EXPANDER_BUS,
        minSlot: 1,
        maxSlot: 31,
      };
    case 'dmi-to-pci-bridge':
      return { flags: PCI_DEVICE | PCI_BRIDGE, minSlot: 0, maxSlot: 31 };
    case 'pcie-to-pci-bridge':
      return { flags: AUTOASSIGN | PCI_DEVICE | PCI_BRIDGE | hp, minSlot: 1, maxSlot: 31 };
    case 'pcie-root-port':
    case 'pcie-switch-downstream-port':
      return {
        flags: AUTOASSIGN | PCIE_DEVICE | PCIE_SWITCH_UPSTREAM_PORT | PCIE_TO_PCI_BRIDGE | hp,
        minSlot: 0,
        maxSlot: 0,
      };
    case 'pcie-switch-upstream-port':
      return { flags: PCIE_SWITCH_DOWNSTREAM_PORT, minSlot: 0, maxSlot: 31 };
    case 'pcie-expander-bus':
      return { flags: PCIE_ROOT_PORT | DMI_TO_PCI_BRIDGE, minSlot: 0, maxSlot: 31 };
  }
}

export interface FlagContext {
  /** Flags for a PCI Express device (PCIe on a pcie-root machine, else conventional PCI). */
  pcie: number;
  /** Flags for a virtio device: PCIe when QEMU has the (non-)transitional virtio devices. */
  virtio: number;
}

const PCI = PCI_DEVICE | AUTOASSIGN;

type Net = Extract<DeviceInfo, { kind: 'net' }>['dev'];

/** An `<interface type='hostdev'>` whose host device is a PCI one. */
export function netHostdevIsPci(net: Net): boolean {
  const source = net.source as { hostdevAddress?: { type?: string } } | undefined;
  return net.type === 'hostdev' && (source?.hostdevAddress?.type ?? 'pci') === 'pci';
}

/** A virtio device model: transitional devices need conventional PCI slots. */
function virtioModel(model: string | undefined, f: FlagContext): number {
  return model === 'virtio-transitional' ? PCI : f.virtio;
}

/**
 * qemuDomainDeviceCalculatePCIConnectFlags: the connect flags of one device, or 0 when it does
 * not sit on PCI. Unset models are taken as the QEMU driver's defaults for x86.
 */
export function deviceConnectFlags(info: DeviceInfo, f: FlagContext): number {
  switch (info.kind) {
    case 'controller': {
      const c = info.dev;
      switch (c.type) {
        case 'pci':
          return controllerConnectType(c.model);
        case 'sata':
        case 'ide':
          return PCI;
        case 'usb':
          switch (c.model) {
            case 'nec-xhci':
            case 'qemu-xhci':
              return f.pcie;
            case 'qusb1':
            case 'qusb2':
            case 'none':
              return 0;
            default:
              return PCI;
          }
        case 'scsi':
          switch (c.model) {
            case 'ncr53c90':
            case 'default':
              return 0;
            case 'virtio-scsi':
            case 'virtio-non-transitional':
              return f.virtio;
            default:
              return PCI;
          }
        case 'virtio-serial':
          return virtioModel(c.model, f);
        default:
          return 0;
      }
    }
    case 'fs': {
      const driver = info.dev.driver?.type ?? 'default';
      if (driver === 'virtiofs') return f.virtio;
      if (driver === 'default' || driver === 'path' || driver === 'handle')
        return virtioModel(info.dev.model, f);
      return 0;
    }
    case 'net': {
      const net = info.dev;
      const model = net.model?.type?.toLowerCase();
      // An <interface type='hostdev'> is addressed as the PCI host device behind it.
      if (net.type === 'hostdev') return netHostdevIsPci(net) ? f.pcie : 0;
      if (model === 'usb-net') return 0;
      if (model === 'virtio' || model === 'virtio-non-transitional') return f.virtio;
      if (model === 'virtio-transitional') return PCI;
      if (model === 'e1000e') return f.pcie;
      if (model !== undefined && (model === 'unknown' || !knownNetModel(model))) return f.pcie;
      return PCI;
    }
    case 'sound':
      return ['es1370', 'ac97', 'ich6', 'ich9'].includes(info.dev.model ?? '') ? PCI : 0;
    case 'disk':
      if (info.dev.target?.bus !== 'virtio') return 0;
      return virtioModel(info.dev.model, f);
    case 'hostdev': {
      const h = info.dev;
      const subsys = (h.mode ?? 'subsystem') === 'subsystem';
      const type = h.type;
      if (!(subsys && type === 'mdev') && (!subsys || (type !== 'pci' && type !== 'scsi_host'))) return 0;
      if (f.pcie === PCI) return PCI;
      if (h.address?.type === 'pci') return f.pcie;
      if (type === 'mdev') return f.pcie;
      if (type === 'scsi_host') return virtioModel(h.model, f);
      // A host device libvirt cannot look at is assumed to be PCI Express.
      return f.pcie;
    }
    case 'memballoon':
      switch (info.dev.model) {
        case 'virtio-transitional':
          return PCI;
        case 'virtio':
        case 'virtio-non-transitional':
          return f.virtio;
        default:
          return 0;
      }
    case 'rng':
      return virtioModel(info.dev.model, f);
    case 'watchdog':
      return info.dev.model === 'i6300esb' ? PCI : 0;
    case 'video':
      switch (info.dev.model?.type) {
        case 'virtio':
          return f.virtio;
        case 'vga':
        case 'cirrus':
        case 'vmvga':
        case 'xen':
        case 'vbox':
        case 'qxl':
        case 'parallels':
          return PCI;
        case 'bochs':
          return f.pcie;
        default:
          return 0;
      }
    case 'shmem':
      return PCI;
    case 'input':
      if (info.dev.bus !== 'virtio') return 0;
      return virtioModel(info.dev.model, f);
    case 'serial':
    case 'parallel':
    case 'channel':
    case 'console':
      return info.kind === 'serial' && info.dev.target?.type === 'pci-serial' ? PCI : 0;
    case 'iommu':
      return info.dev.model === 'virtio' ? f.virtio | INTEGRATED : 0;
    case 'vsock':
      return info.dev.model === 'default' ? 0 : virtioModel(info.dev.model, f);
    case 'memory':
      return info.dev.model === 'virtio-pmem' || info.dev.model === 'virtio-mem' ? f.virtio : 0;
    default:
      return 0;
  }
}
