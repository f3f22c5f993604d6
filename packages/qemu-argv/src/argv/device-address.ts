/**
 * Where a `-device` plugs in: the `bus`/`addr`/`unit`/`port`/`nr` properties from its
 * `<address>` (libvirt's qemuBuildDeviceAddressProps and friends in qemu_command.c).
 */
import {
  type Address,
  type DomainDef,
  isCcwAddress,
  isDimmAddress,
  isDriveAddress,
  isIsaAddress,
  isPciAddress,
  isUsbAddress,
  isVirtioSerialAddress,
  type VirError,
  virReportError,
} from '@qvirt/core';
import { isQ35 } from '../domain-util.js';
import { hasBuiltinIDE } from './aliases.js';
import type { PropObject } from './props.js';

type Controller = NonNullable<NonNullable<DomainDef['devices']>['controller']>[number];

function internal(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** The controller of a type and index, if the definition has one. */
export function findController(def: DomainDef, type: string, index: number): Controller | undefined {
  return (def.devices?.controller ?? []).find((c) => c.type === type && (c.index ?? 0) === index);
}

/** The alias of a controller a device needs (virDomainControllerAliasFind); throws when absent. */
export function controllerAlias(def: DomainDef, type: string, index: number): string {
  const c = findController(def, type, index);
  if (!c) throw internal(`Could not find ${type} controller with index ${index} required for device`);
  if (!c.alias?.name) throw internal(`Device alias was not set for ${type} controller with index ${index} `);
  return c.alias.name;
}

/**
 * QEMU's name for the bus a PCI controller provides: its alias (`pci.N`, `pcie.0`); a user alias
 * on the implicit root controller is not on the command line, so the default name is used.
 */
export function pciBusName(def: DomainDef, index: number): string {
  const c = findController(def, 'pci', index);
  if (!c) {
    throw internal(
      `Could not find PCI controller with index '${index}' required for device at address '${pciAddressString({ bus: index })}'`,
    );
  }
  const alias = c.alias?.name;
  if (!alias || alias.startsWith('ua-')) {
    if (c.model === 'pci-root' && !(def.os?.type?.machine ?? '').startsWith('pseries')) return 'pci.0';
    if (c.model === 'pcie-root') return 'pcie.0';
  }
  if (!alias) return c.model === 'pcie-root' ? `pcie.${index}` : `pci.${index}`;
  return alias;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** `0000:00:05.0`, as libvirt prints a PCI address in messages (virPCIDeviceAddressAsString). */
export function pciAddressString(a: {
  domain?: number;
  bus?: number;
  slot?: number;
  function?: number;
}): string {
  return `${hex(a.domain ?? 0, 4)}:${hex(a.bus ?? 0, 2)}:${hex(a.slot ?? 0, 2)}.${(a.function ?? 0).toString(16)}`;
}

/** `addr` of a PCI address: `0xS` or `0xS.0xF`. */
export function pciAddr(slot: number, fn: number): string {
  return fn === 0 ? `0x${slot.toString(16)}` : `0x${slot.toString(16)}.0x${fn.toString(16)}`;
}

/** `bus`, `multifunction`, `addr` (and `acpi-index`) of a PCI address; `{}` for other types. */
export function pciAddressProps(
  def: DomainDef,
  address: Address | undefined,
  acpiIndex?: number,
): PropObject {
  if (!isPciAddress(address)) return {};
  const a = address;
  const props: PropObject = { bus: pciBusName(def, a.bus ?? 0) };
  if (a.multifunction === 'on') props.multifunction = true;
  else if (a.multifunction === 'off') props.multifunction = false;
  props.addr = pciAddr(a.slot ?? 0, a.function ?? 0);
  if (acpiIndex) props['acpi-index'] = acpiIndex;
  return props;
}

/** The SCSI controller models whose bus is `alias.N` with a `scsi-id` only. */
const SCSI_SPI_MODELS = new Set(['lsilogic', 'ncr53c90', 'dc390', 'am53c974']);

/**
 * Props of a drive address for a device on `diskBus` (qemuBuildDeviceAddresDriveProps):
 * IDE `ide.B`+unit, SATA `ide.U` (q35) / `sataN.U`, floppy unit, SCSI `scsiN.B`+scsi-id or
 * `scsiN.0`+channel/scsi-id/lun.
 */
export function driveAddressProps(def: DomainDef, address: Address | undefined, diskBus: string): PropObject {
  if (!isDriveAddress(address)) return {};
  const ctrl = address.controller ?? 0;
  const bus = address.bus ?? 0;
  const unit = address.unit ?? 0;
  switch (diskBus) {
    case 'ide': {
      const alias = hasBuiltinIDE(def) ? 'ide' : controllerAlias(def, 'ide', ctrl);
      return { bus: `${alias}.${bus}`, unit };
    }
    case 'sata': {
      const alias = isQ35(def) && ctrl === 0 ? 'ide' : controllerAlias(def, 'sata', ctrl);
      return { bus: `${alias}.${unit}` };
    }
    case 'fdc':
      return { unit };
    case 'scsi': {
      const c = findController(def, 'scsi', ctrl);
      if (!c) throw internal(`unable to find a SCSI controller for idx=${ctrl}`);
      const alias = c.alias?.name ?? `scsi${ctrl}`;
      if (SCSI_SPI_MODELS.has(c.model ?? '')) return { bus: `${alias}.${bus}`, 'scsi-id': unit };
      if (!c.model || c.model === 'default')
        throw internal(`Unexpected SCSI controller model ${c.model ?? 'default'}`);
      return { bus: `${alias}.0`, channel: bus, 'scsi-id': address.target ?? 0, lun: unit };
    }
    default:
      throw internal(`address type drive is not supported for bus '${diskBus}'`);
  }
}

/** `bus`/`port` of a USB address: `usb.0` (or `usbN.0`) and the dotted port path. */
export function usbAddressProps(def: DomainDef, address: Address | undefined): PropObject {
  if (!isUsbAddress(address)) return {};
  const alias = controllerAlias(def, 'usb', address.bus ?? 0);
  const port = usbPortString(address.port);
  return { bus: `${alias}.0`, ...(port !== undefined ? { port } : {}) };
}

/** The port path as libvirt prints it (virDomainUSBAddressPortFormatBuf): up to the first 0. */
export function usbPortString(port: string | undefined): string | undefined {
  if (port === undefined) return undefined;
  const parts: string[] = [];
  for (const p of port.split('.')) {
    const n = Number.parseInt(p, 10);
    if (!n) break;
    parts.push(String(n));
  }
  return parts.join('.');
}

/** `bus`/`nr` of a virtio-serial address: `virtio-serialN.B` and the port. */
export function virtioSerialAddressProps(def: DomainDef, address: Address | undefined): PropObject {
  if (!isVirtioSerialAddress(address)) return {};
  const alias = controllerAlias(def, 'virtio-serial', address.controller ?? 0);
  return { bus: `${alias}.${address.bus ?? 0}`, nr: address.port ?? 0 };
}

/**
 * The address props of any device (qemuBuildDeviceAddressProps), in libvirt's order. `diskBus`
 * is the bus a drive address refers to (the disk's `<target bus>`, `scsi` for SCSI hostdevs).
 */
export function deviceAddressProps(
  def: DomainDef,
  dev: { address?: Address; acpi?: { index?: number } },
  diskBus = '',
): PropObject {
  const a = dev.address;
  if (isPciAddress(a)) return pciAddressProps(def, a, dev.acpi?.index);
  if (isUsbAddress(a)) return usbAddressProps(def, a);
  if (isCcwAddress(a)) {
    return {
      devno: `${(a.cssid ?? 0).toString(16)}.${(a.ssid ?? 0).toString(16)}.${hex(a.devno ?? 0, 4)}`,
    };
  }
  if (isIsaAddress(a)) {
    const props: PropObject = { iobase: a.iobase ?? 0 };
    if (a.irq) props.irq = a.irq;
    return props;
  }
  if (isDimmAddress(a)) {
    const props: PropObject = { slot: a.slot ?? 0 };
    if (a.base) props.addr = a.base;
    return props;
  }
  if (isDriveAddress(a)) return driveAddressProps(def, a, diskBus);
  if (isVirtioSerialAddress(a)) return virtioSerialAddressProps(def, a);
  if (a?.type === 'spapr-vio') {
    const reg = (a as { reg?: number }).reg;
    return reg !== undefined ? { reg } : {};
  }
  return {};
}
