/**
 * Controllers: libvirt's parse-time ordering (virDomainControllerInsertPreAlloced), index
 * assignment (virDomainAssignControllerIndexes), the machine's implicit controllers
 * (qemuDomainDefAddDefaultDevices), default models (qemuDomainControllerDefPostParse) and the
 * controllers other devices need (virDomainDefAddImplicitControllers).
 */
import type { DomainDef } from '@qvirt/core';
import {
  isCcidAddress,
  isDriveAddress,
  isVirtioSerialAddress,
  VirError,
  virErrorMessage,
  virReportError,
} from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { devicesOf, isI440fx, isQ35, isX86, machineOf } from '../../domain-util.js';
import {
  appendController,
  type Controller,
  diskDriveController,
  findController,
  isScsiHostdev,
  maybeAddController,
  SCSI_BUS_MAX_UNIT,
} from './devices-util.js';

const USB2_MODELS = new Set(['ich9-ehci1', 'ich9-uhci1', 'ich9-uhci2', 'ich9-uhci3']);
const isUsb2 = (c: Controller): boolean => c.type === 'usb' && USB2_MODELS.has(c.model ?? '');

/** Parse order: each controller goes after the last one of its type with a lower index. */
export function controllerParseOrder(def: DomainDef): void {
  const parsed = def.devices?.controller;
  if (!parsed?.length) return;
  // ICH9 UHCI companions without <master> get the start port of their position.
  const startPorts: Record<string, number> = { 'ich9-uhci1': 0, 'ich9-uhci2': 2, 'ich9-uhci3': 4 };
  for (const c of parsed) {
    const port = startPorts[c.model ?? ''];
    if (c.type === 'usb' && port !== undefined && !c.master) c.master = { startport: port };
  }
  const list: Controller[] = [];
  for (const c of parsed) {
    const idx = c.index ?? -1;
    let at = -1;
    for (let i = list.length - 1; i >= 0; i--) {
      const cur = list[i]!;
      if (cur.type !== c.type) continue;
      if (idx === -1) {
        at = i + 1;
        break;
      }
      const curIdx = cur.index ?? -1;
      if (curIdx > idx) at = i;
      else if (!c.master && cur.master && curIdx === idx) at = i;
      else if (at === -1) at = i + 1;
    }
    if (at === -1) list.push(c);
    else list.splice(at, 0, c);
  }
  def.devices!.controller = list;
}

/**
 * SCSI host devices get their controller while the document is parsed, before any other implicit
 * controller (virDomainDefMaybeAddHostdevSCSIcontroller on each `<hostdev>`).
 */
export function parseHostdevScsiControllers(def: DomainDef): void {
  addHostdevScsiControllers(def);
}

/** virDomainAssignControllerIndexes: controllers without index get the lowest unused one. */
export function assignControllerIndexes(def: DomainDef): void {
  const list = def.devices?.controller ?? [];
  list.forEach((cont, outer) => {
    if (cont.index !== undefined) return;
    let prev: Controller | undefined;
    if (outer > 0 && isUsb2(cont)) {
      for (let i = outer - 1; i >= 0; i--) {
        if (list[i]!.type === 'usb') {
          prev = list[i];
          break;
        }
      }
      if (prev && !isUsb2(prev)) prev = undefined;
      if (prev && list.some((c) => c.type === 'usb' && c.index === prev!.index && c.model === cont.model))
        prev = undefined;
    }
    if (prev?.index !== undefined) {
      cont.index = prev.index;
      return;
    }
    let idx = 0;
    while (list.some((c) => c !== cont && c.type === cont.type && c.index === idx)) idx++;
    cont.index = idx;
  });
}

/** The USB controller a new domain gets, and its ICH9 companions. */
function addUsbController(def: DomainDef, model: string | undefined): void {
  const first = appendController(def, 'usb', 0, model);
  if (model !== 'ich9-ehci1') return;
  ['ich9-uhci1', 'ich9-uhci2', 'ich9-uhci3'].forEach((m, i) => {
    appendController(def, 'usb', first.index ?? 0, m, { master: { startport: i * 2 } });
  });
}

/** qemuDomainDefAddDefaultDevices, the controller part: USB, SATA and the PCI root. */
export function machineControllers(def: DomainDef, ctx: QemuContext): void {
  if (!isX86(def)) return;
  if (machineOf(def) === 'isapc') return;
  let addUsb = true;
  let usbModel: string | undefined;
  let root: string | undefined;
  let sata = false;
  if (isQ35(def)) {
    root = 'pcie-root';
    sata = true;
    if (hasFlag(ctx.caps, 'qemu-xhci')) usbModel = 'qemu-xhci';
    else if (hasFlag(ctx.caps, 'nec-usb-xhci')) usbModel = 'nec-xhci';
    else if (hasFlag(ctx.caps, 'ich9-usb-ehci1')) usbModel = 'ich9-ehci1';
    else addUsb = false;
  } else if (isI440fx(def)) {
    root = 'pci-root';
  }
  if (addUsb && !findController(def, 'usb', 0)) addUsbController(def, usbModel);
  if (sata) maybeAddController(def, 'sata', 0);
  if (root) {
    const existing = findController(def, 'pci', 0);
    if (existing) {
      if (existing.model !== root) {
        throw new VirErrorXml(
          `The PCI controller with index='0' must be model='${root}' for this machine type, but model='${existing.model ?? ''}' was found instead`,
        );
      }
    } else {
      appendController(def, 'pci', 0, root);
    }
  }
}

class VirErrorXml extends VirError {
  constructor(message: string) {
    super('XML_ERROR', 'domain', virErrorMessage('XML_ERROR', message));
  }
}

/** qemuDomainGetSCSIControllerModel for x86 guests with QEMU 7.2. */
function defaultScsiModel(ctx: QemuContext): string | undefined {
  if (hasFlag(ctx.caps, 'lsi')) return 'lsilogic';
  if (hasFlag(ctx.caps, 'virtio-scsi-pci')) return 'virtio-scsi';
  return undefined;
}

/** qemuDomainControllerDefPostParse: the default USB and SCSI models. */
export function controllerModels(def: DomainDef, ctx: QemuContext): void {
  for (const c of def.devices?.controller ?? []) {
    if (c.type === 'usb' && (c.model === undefined || c.model === 'default')) {
      if (hasFlag(ctx.caps, 'piix3-usb-uhci')) c.model = 'piix3-uhci';
    } else if (c.type === 'scsi' && (c.model === undefined || c.model === 'default')) {
      const model = defaultScsiModel(ctx);
      if (model === undefined) {
        throw virReportError(
          'INTERNAL_ERROR',
          'qemu',
          `Unable to determine model for SCSI controller idx=${c.index ?? 0}`,
        );
      }
      c.model = model;
    }
  }
}

function addDiskControllers(def: DomainDef, type: string, bus: string): void {
  let max = -1;
  for (const disk of def.devices?.disk ?? []) {
    if (disk.target?.bus !== bus) continue;
    const c = diskDriveController(disk);
    if (c !== undefined && c > max) max = c;
  }
  for (let i = 0; i <= max; i++) maybeAddController(def, type, i);
}

/** The SCSI drive address of a host device (virDomainHostdevAssignAddress), or its given one. */
function scsiAddressUsed(def: DomainDef, controller: number, unit: number, self: unknown): boolean {
  for (const d of def.devices?.disk ?? []) {
    if (d.target?.bus !== 'scsi') continue;
    if (
      isDriveAddress(d.address) &&
      (d.address.controller ?? 0) === controller &&
      (d.address.bus ?? 0) === 0 &&
      (d.address.target ?? 0) === 0 &&
      (d.address.unit ?? 0) === unit
    )
      return true;
  }
  for (const h of def.devices?.hostdev ?? []) {
    if (h === self || !isScsiHostdev(h)) continue;
    const a = h.address;
    if (
      isDriveAddress(a) &&
      (a.controller ?? 0) === controller &&
      (a.bus ?? 0) === 0 &&
      (a.target ?? 0) === 0 &&
      (a.unit ?? 0) === unit
    )
      return true;
  }
  return false;
}

/** virDomainHostdevAssignAddress: SCSI host devices without address take the next free unit. */
export function hostdevScsiAddresses(def: DomainDef): void {
  for (const h of def.devices?.hostdev ?? []) {
    if (!isScsiHostdev(h) || h.address) continue;
    let controller = 0;
    for (;;) {
      let unit = 0;
      while (unit < SCSI_BUS_MAX_UNIT && scsiAddressUsed(def, controller, unit, h)) unit++;
      if (unit < SCSI_BUS_MAX_UNIT) {
        h.address = { type: 'drive', controller, bus: 0, target: 0, unit };
        break;
      }
      controller++;
    }
  }
}

function addHostdevScsiControllers(def: DomainDef): void {
  let max = -1;
  let model: string | undefined;
  for (const h of def.devices?.hostdev ?? []) {
    if (!isScsiHostdev(h)) continue;
    const c = isDriveAddress(h.address) ? (h.address.controller ?? 0) : 0;
    if (c > max) {
      max = c;
      const cont = findController(def, 'scsi', c);
      if (cont?.model !== undefined) model = cont.model;
    }
  }
  for (let i = 0; i <= max; i++) maybeAddController(def, 'scsi', i, model);
}

/** virDomainDefAddImplicitControllers: what disks, channels, smartcards and host devices need. */
export function implicitControllers(def: DomainDef): void {
  addDiskControllers(def, 'scsi', 'scsi');
  addDiskControllers(def, 'fdc', 'fdc');
  addDiskControllers(def, 'ide', 'ide');
  addDiskControllers(def, 'sata', 'sata');

  const devices = devicesOf(def);
  for (const chr of [...(devices.channel ?? []), ...(devices.console ?? [])]) {
    if (chr.target?.type !== 'virtio') continue;
    const idx = isVirtioSerialAddress(chr.address) ? (chr.address.controller ?? 0) : 0;
    maybeAddController(def, 'virtio-serial', idx);
  }

  for (const card of devices.smartcard ?? []) {
    let idx = 0;
    if (isCcidAddress(card.address)) {
      idx = card.address.controller ?? 0;
    } else if (!card.address) {
      let max = -1;
      for (const other of devices.smartcard ?? []) {
        const a = other.address;
        if (isCcidAddress(a) && (a.controller ?? 0) === 0 && (a.slot ?? 0) > max) max = a.slot ?? 0;
      }
      card.address = { type: 'ccid', controller: 0, slot: max + 1 };
    }
    maybeAddController(def, 'ccid', idx);
  }

  addHostdevScsiControllers(def);
}
