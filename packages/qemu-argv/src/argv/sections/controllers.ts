/**
 * Controllers (qemuBuildControllersCommandLine: PCI, USB, SCSI, IDE, SATA, virtio-serial, then
 * `-usb`), USB hubs (qemuBuildHubCommandLine) and CCID controllers after the hubs.
 */
import { type DomainDef, type VirError, virReportError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isQ35 } from '../../domain-util.js';
import { hasBuiltinIDE } from '../aliases.js';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import type { PropObject } from '../props.js';
import { deviceJson } from '../storage-device-json.js';
import { virtioDevProps } from '../storage-virtio-props.js';

type ControllerDef = NonNullable<NonNullable<DomainDef['devices']>['controller']>[number];

function unsupported(message: string): VirError {
  return virReportError('CONFIG_UNSUPPORTED', 'qemu', message);
}

function internal(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** QEMU device of each USB controller model, and the capability flag it needs. */
const USB_MODELS: Record<string, [driver: string, flag: string | undefined]> = {
  'piix3-uhci': ['piix3-usb-uhci', 'piix3-usb-uhci'],
  'piix4-uhci': ['piix4-usb-uhci', 'piix4-usb-uhci'],
  ehci: ['usb-ehci', 'usb-ehci'],
  'ich9-ehci1': ['ich9-usb-ehci1', 'ich9-usb-ehci1'],
  'ich9-uhci1': ['ich9-usb-uhci1', 'ich9-usb-ehci1'],
  'ich9-uhci2': ['ich9-usb-uhci2', 'ich9-usb-ehci1'],
  'ich9-uhci3': ['ich9-usb-uhci3', 'ich9-usb-ehci1'],
  'vt82c686b-uhci': ['vt82c686b-usb-uhci', 'vt82c686b-usb-uhci'],
  'pci-ohci': ['pci-ohci', 'pci-ohci'],
  'nec-xhci': ['nec-usb-xhci', 'nec-usb-xhci'],
  qusb1: ['qusb1', undefined],
  qusb2: ['qusb2', undefined],
  'qemu-xhci': ['qemu-xhci', 'qemu-xhci'],
};

/** QEMU device of each SCSI controller model that is not virtio. */
const SCSI_DRIVERS: Record<string, string> = {
  lsilogic: 'lsi',
  ibmvscsi: 'spapr-vscsi',
  lsisas1068: 'mptsas1068',
  lsisas1078: 'megasas',
  vmpvscsi: 'pvscsi',
  am53c974: 'am53c974',
  dc390: 'dc-390',
};

const VIRTIO_SCSI_MODELS = new Set(['virtio-scsi', 'virtio-transitional', 'virtio-non-transitional']);

/** Whether the machine must not get a legacy `-usb` controller (q35, ARM/RISC-V virt). */
function forbidsLegacyUSB(def: DomainDef): boolean {
  const m = def.os?.type?.machine ?? '';
  const arch = def.os?.type?.arch ?? '';
  return (
    isQ35(def) ||
    ((arch === 'aarch64' || arch.startsWith('arm')) && (m === 'virt' || m.startsWith('virt-'))) ||
    (arch.startsWith('riscv') && (m === 'virt' || m.startsWith('virt-')))
  );
}

function hasBuiltinESP(def: DomainDef): boolean {
  const arch = def.os?.type?.arch ?? '';
  const m = def.os?.type?.machine ?? '';
  return (
    arch === 'sparc' ||
    (arch.startsWith('mips64') && (m === 'magnum' || m === 'pica61')) ||
    (arch === 'm68k' && m === 'q800')
  );
}

/** Controllers that are part of the machine and never get a -device (qemuBuildSkipController). */
export function isImplicitController(c: ControllerDef, def: DomainDef): boolean {
  const idx = c.index ?? 0;
  if (c.type === 'pci' && c.model === 'pcie-root') return true;
  if (c.type === 'pci' && c.model === 'pci-root' && !(def.os?.type?.machine ?? '').startsWith('pseries'))
    return true;
  if (c.type === 'sata' && idx === 0 && isQ35(def)) return true;
  if (c.type === 'ide' && idx === 0 && hasBuiltinIDE(def)) return true;
  if (c.type === 'scsi' && idx === 0 && c.model === 'ncr53c90' && hasBuiltinESP(def)) return true;
  return false;
}

function usbProps(def: DomainDef, c: ControllerDef, ctx: QemuContext): PropObject {
  const model = c.model ?? '';
  if (!model || model === 'default') throw unsupported('no model provided for USB controller');
  const entry = USB_MODELS[model];
  if (!entry?.[1] || !hasFlag(ctx.caps, entry[1])) {
    throw unsupported(`USB controller model '${model}' not supported in this QEMU binary`);
  }
  if (c.ports !== undefined && model !== 'nec-xhci' && model !== 'qemu-xhci') {
    throw unsupported(`usb controller type '${model}' doesn't support 'ports' with this QEMU binary`);
  }
  const props: PropObject = { driver: entry[0], p2: c.ports, p3: c.ports };
  if (c.master) {
    const master = (def.devices?.controller ?? []).find(
      (o) => o.type === 'usb' && (o.index ?? 0) === (c.index ?? 0) && !o.master,
    );
    if (!master?.alias?.name) throw internal('masterbus not found');
    props.masterbus = `${master.alias.name}.0`;
    props.firstport = c.master.startport ?? 0;
  } else {
    props.id = c.alias?.name;
  }
  return props;
}

function scsiProps(c: ControllerDef, ctx: QemuContext): PropObject {
  const model = c.model ?? '';
  if (VIRTIO_SCSI_MODELS.has(model)) {
    const drv = c.driver;
    return {
      ...virtioDevProps(ctx, 'virtio-scsi', { address: c.address, model, driver: drv }),
      iothread: drv?.iothread ? `iothread${drv.iothread}` : undefined,
      id: c.alias?.name,
      num_queues: drv?.queues || undefined,
      cmd_per_lun: drv?.cmd_per_lun || undefined,
      max_sectors: drv?.max_sectors || undefined,
      ioeventfd: drv?.ioeventfd === undefined ? undefined : drv.ioeventfd === 'on',
    };
  }
  const driver = SCSI_DRIVERS[model];
  if (driver) return { driver, id: c.alias?.name };
  if (model === 'auto' || model === 'buslogic' || model === 'ncr53c90') {
    throw unsupported(`Unsupported controller model: ${model}`);
  }
  throw internal(`Unexpected SCSI controller model ${model || 'default'}`);
}

function pciProps(c: ControllerDef): PropObject | undefined {
  const t = c.target ?? {};
  const modelName = c.modelName?.name;
  if (c.model === 'pci-root' && modelName === 'spapr-pci-host-bridge' && (t.index ?? 0) === 0)
    return undefined;
  if (c.model === 'pcie-root') throw unsupported('Unsupported PCI Express root controller');
  if (!modelName) throw internal('Unknown virDomainControllerPCIModelName value: 0');
  const id = c.alias?.name;
  switch (c.model) {
    case 'pci-bridge':
      return { driver: modelName, chassis_nr: t.chassisNr ?? -1, id };
    case 'pci-expander-bus':
    case 'pcie-expander-bus':
      return { driver: modelName, bus_nr: t.busNr ?? -1, id, numa_node: t.node };
    case 'dmi-to-pci-bridge':
    case 'pcie-switch-upstream-port':
    case 'pcie-to-pci-bridge':
      return { driver: modelName, id };
    case 'pcie-root-port':
    case 'pcie-switch-downstream-port':
      return {
        driver: modelName,
        port: t.port ?? -1,
        chassis: t.chassis ?? -1,
        id,
        hotplug: t.hotplug === undefined ? undefined : t.hotplug === 'on',
      };
    case 'pci-root':
      return { driver: modelName, index: t.index ?? -1, id, numa_node: t.node };
    default:
      throw internal(`Unexpected PCI controller model ${c.model ?? 'default'}`);
  }
}

/** The -device properties of a controller, or undefined when it has none (qemuBuildControllerDevProps). */
export function controllerDevProps(
  def: DomainDef,
  c: ControllerDef,
  ctx: QemuContext,
): PropObject | undefined {
  let props: PropObject | undefined;
  switch (c.type) {
    case 'scsi':
      props = scsiProps(c, ctx);
      break;
    case 'virtio-serial':
      props = {
        ...virtioDevProps(ctx, 'virtio-serial', { address: c.address, model: c.model, driver: c.driver }),
        id: c.alias?.name,
        max_ports: c.ports,
        vectors: c.vectors,
      };
      break;
    case 'ccid':
      props = { driver: 'usb-ccid', id: c.alias?.name };
      break;
    case 'sata':
      props = { driver: 'ahci', id: c.alias?.name };
      break;
    case 'usb':
      props = usbProps(def, c, ctx);
      break;
    case 'pci':
      props = pciProps(c);
      break;
    default:
      throw unsupported(`Unsupported controller type: ${c.type ?? ''}`);
  }
  if (!props) return undefined;
  return { ...props, ...deviceAddressProps(def, c) };
}

function controllersOfType(b: Build, type: string): void {
  const def = b.def;
  for (const c of def.devices?.controller ?? []) {
    if (c.type !== type) continue;
    if (
      c.type === 'pci' &&
      c.model === 'pci-root' &&
      (c.index ?? 0) === 0 &&
      c.target?.hotplug !== undefined
    ) {
      add(b, '-global', `PIIX4_PM.acpi-root-pci-hotplug=${c.target.hotplug}`);
    }
    if (isImplicitController(c, def)) continue;
    if (c.type === 'usb' && c.model === 'none') continue;
    if (c.type === 'usb' && (!c.model || c.model === 'default') && !forbidsLegacyUSB(def)) continue;
    const props = controllerDevProps(def, c, b.ctx);
    if (props) add(b, '-device', deviceJson(def, props));
  }
}

const CONTROLLER_ORDER = ['pci', 'usb', 'scsi', 'ide', 'sata', 'virtio-serial'];

export function controllers(b: Build): void {
  for (const type of CONTROLLER_ORDER) controllersOfType(b, type);
  // the legacy `-usb` when no USB controller has a model
  let nlegacy = 0;
  let nusb = 0;
  for (const c of b.def.devices?.controller ?? []) {
    if (c.type !== 'usb') continue;
    if (c.model === 'none') return;
    if (!c.model || c.model === 'default') nlegacy++;
    else nusb++;
  }
  if (nlegacy > 1) throw unsupported('Multiple legacy USB controllers are not supported');
  const arch = b.def.os?.type?.arch ?? '';
  if (nusb === 0 && !forbidsLegacyUSB(b.def) && !arch.startsWith('s390')) add(b, '-usb');
}

/** USB hubs (`<hub type='usb'>`). */
export function hubs(b: Build): void {
  for (const hub of b.def.devices?.hub ?? []) {
    add(
      b,
      '-device',
      deviceJson(b.def, { driver: 'usb-hub', id: hub.alias?.name, ...deviceAddressProps(b.def, hub) }),
    );
  }
}

/** CCID controllers, which sit on the USB bus, after the hubs. */
export function controllersByType(b: Build): void {
  controllersOfType(b, 'ccid');
}
