/**
 * PCI address assignment the way libvirt 9.0 does it (qemuDomainAssignPCIAddresses in
 * src/qemu/qemu_domain_address.c): a dry run finds out how many buses the devices need and adds
 * the missing PCI controllers (pci-bridge on pci-root machines, pcie-root-port, and for
 * conventional PCI devices on q35 a pcie-to-pci-bridge), then a second pass hands out the
 * addresses: the chipset's fixed functions first (PIIX3 on slot 1, ICH9 on slot 0x1f, the
 * primary video card), then PCI controllers, filesystems, interfaces, sound, other controllers,
 * virtio disks, host devices, balloon, RNG, watchdog, video, shmem, input, serial, IOMMU, vsock
 * and memory devices. Finally multifunction flags and the PCI controllers' model names,
 * chassis and port numbers.
 */
import type { DomainDef, PciAddress } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { devicesOf, isI440fx, isQ35, isX86 } from '../../domain-util.js';
import { type DeviceInfo, deviceInfos, type HasAddress } from './address-devices.js';
import {
  AUTOASSIGN,
  controllerConnectType,
  deviceConnectFlags,
  type FlagContext,
  netHostdevIsPci,
  PCI_CONTROLLER_MODELS,
  PCI_DEVICE,
  PCIE_DEVICE,
  type PciControllerModel,
} from './address-pci-flags.js';
import { type PciAddr, PciAddressSet } from './address-pci-set.js';

type Controller = NonNullable<NonNullable<DomainDef['devices']>['controller']>[number];

const PCI_FLAGS = PCI_DEVICE | AUTOASSIGN;

/** virDeviceInfoPCIAddressIsPresent: a PCI address that is not all zero (domain, bus, slot). */
export function pciAddressPresent(dev: HasAddress): boolean {
  const a = dev.address;
  if (a?.type !== 'pci') return false;
  const p = a as PciAddress;
  return !!(p.domain || p.bus || p.slot);
}

/** virDeviceInfoPCIAddressIsWanted: no address yet, or an empty PCI one. */
export function pciAddressWanted(dev: HasAddress): boolean {
  const a = dev.address;
  if (a === undefined) return true;
  return a.type === 'pci' && !pciAddressPresent(dev);
}

function toAddr(a: PciAddress): PciAddr {
  return {
    domain: a.domain ?? 0,
    bus: a.bus ?? 0,
    slot: a.slot ?? 0,
    function: a.function ?? 0,
    ...(a.multifunction ? { multi: a.multifunction } : {}),
  };
}

function setAddress(dev: HasAddress, a: PciAddr): void {
  const old = dev.address?.type === 'pci' ? (dev.address as PciAddress) : undefined;
  const addr: PciAddress = { type: 'pci', domain: a.domain, bus: a.bus, slot: a.slot, function: a.function };
  if (a.multi) addr.multifunction = a.multi;
  if (old?.zpci) addr.zpci = old.zpci;
  dev.address = addr;
}

function pciControllers(def: DomainDef): Controller[] {
  return (def.devices?.controller ?? []).filter((c) => c.type === 'pci');
}

function rootModel(def: DomainDef): string | undefined {
  return pciControllers(def).find((c) => (c.index ?? 0) === 0)?.model;
}

const isPciModel = (m: string | undefined): m is PciControllerModel =>
  (PCI_CONTROLLER_MODELS as readonly string[]).includes(m ?? '');

const isUsb2 = (c: Controller): boolean =>
  c.type === 'usb' && ['ich9-ehci1', 'ich9-uhci1', 'ich9-uhci2', 'ich9-uhci3'].includes(c.model ?? '');

class Assigner {
  readonly flags = new Map<object, number>();
  readonly fctx: FlagContext;

  constructor(
    readonly def: DomainDef,
    readonly ctx: QemuContext,
  ) {
    const pcie = rootModel(def) === 'pcie-root' ? PCIE_DEVICE | AUTOASSIGN : PCI_FLAGS;
    this.fctx = { pcie, virtio: hasFlag(ctx.caps, 'virtio-pci-non-transitional') ? pcie : PCI_FLAGS };
    for (const info of deviceInfos(def, true)) this.flags.set(info.dev, deviceConnectFlags(info, this.fctx));
  }

  flagsOf(dev: object): number {
    return this.flags.get(dev) ?? 0;
  }

  /** qemuDomainPCIAddressSetCreate. */
  createSet(nbuses: number, dryRun: boolean): PciAddressSet {
    const addrs = new PciAddressSet(nbuses, dryRun);
    addrs.isPCIeToPCIBridgeSupported = hasFlag(this.ctx.caps, 'pcie-pci-bridge');
    let hasPCIeRoot = false;
    for (const c of pciControllers(this.def)) {
      const idx = c.index ?? 0;
      if (!isPciModel(c.model))
        throw virReportError('INTERNAL_ERROR', 'qemu', 'PCI controller model was not set correctly');
      addrs.setBusModel(idx, c.model, c.target?.hotplug !== 'off');
      if (c.model === 'pcie-root') hasPCIeRoot = true;
    }
    if (nbuses > 0 && !addrs.buses[0]!.model) addrs.setBusModel(0, 'pci-root', true);
    const defaultModel: PciControllerModel = hasPCIeRoot ? 'pcie-root-port' : 'pci-bridge';
    for (let i = 1; i < addrs.buses.length; i++) {
      if (!addrs.buses[i]!.model) addrs.setBusModel(i, defaultModel, true);
    }
    for (const info of deviceInfos(this.def)) this.collect(addrs, info);
    return addrs;
  }

  /** qemuDomainCollectPCIAddress: reserve an address given in the configuration. */
  private collect(addrs: PciAddressSet, info: DeviceInfo): void {
    if (!pciAddressPresent(info.dev)) return;
    const addr = toAddr(info.dev.address as PciAddress);
    let flags = this.flagsOf(info.dev);
    if (!flags) {
      flags = PCI_DEVICE;
      this.flags.set(info.dev, flags);
    }
    if (info.kind === 'controller' && addr.domain === 0 && addr.bus === 0 && addr.slot === 1) {
      const c = info.dev;
      const idx = c.index ?? 0;
      if (
        (c.type === 'ide' && idx === 0 && addr.function === 1) ||
        (c.type === 'usb' &&
          idx === 0 &&
          (c.model === 'piix3-uhci' || c.model === undefined) &&
          addr.function === 2)
      ) {
        if (addrs.buses.length > 0 && !(addrs.buses[0]!.flags & PCI_DEVICE)) {
          throw virReportError(
            'INTERNAL_ERROR',
            'qemu',
            'Bus 0 must be PCI for integrated PIIX3 USB or IDE controllers',
          );
        }
        return;
      }
    }
    addrs.reserve(addr, flags, true);
  }

  /** qemuDomainValidateDevicePCISlotsPIIX3. */
  private slotsPIIX3(addrs: PciAddressSet): void {
    const flags = AUTOASSIGN | PCI_DEVICE;
    for (const c of this.def.devices?.controller ?? []) {
      const idx = c.index ?? 0;
      let want: PciAddr;
      let message: string;
      if (c.type === 'ide' && idx === 0) {
        want = { domain: 0, bus: 0, slot: 1, function: 1 };
        message = 'Primary IDE controller must have PCI address 0:0:1.1';
      } else if (c.type === 'usb' && idx === 0 && (c.model === 'piix3-uhci' || c.model === undefined)) {
        want = { domain: 0, bus: 0, slot: 1, function: 2 };
        message = 'PIIX3 USB controller at index 0 must have PCI address 0:0:1.2';
      } else continue;
      if (pciAddressPresent(c)) {
        const a = toAddr(c.address as PciAddress);
        if (a.domain !== 0 || a.bus !== 0 || a.slot !== want.slot || a.function !== want.function)
          throw virReportError('INTERNAL_ERROR', 'qemu', message);
      } else {
        setAddress(c, want);
      }
      if (addrs.buses.length) addrs.reserve({ ...want }, flags, true);
    }
    if (addrs.buses.length) {
      addrs.reserve({ domain: 0, bus: 0, slot: 1, function: 0 }, flags, true);
      addrs.reserve({ domain: 0, bus: 0, slot: 1, function: 3 }, flags, true);
    }
    this.primaryVideo(addrs, 2, flags);
  }

  /** The first video card goes to the first slot after the chipset's, when that is free. */
  private primaryVideo(addrs: PciAddressSet, slot: number, flags: number): void {
    const video = this.def.devices?.video?.[0];
    const type = video?.model?.type;
    if (!video || type === 'none' || type === 'ramfb') return;
    if (!pciAddressWanted(video)) return;
    const a: PciAddr = { domain: 0, bus: 0, slot, function: 0 };
    addrs.validate(a, flags, true);
    if (addrs.slotInUse(a)) {
      const got = addrs.reserveNext(this.flagsOf(video));
      if (got) setAddress(video, got);
    } else {
      addrs.reserve(a, flags, true);
      setAddress(video, a);
    }
  }

  /** qemuDomainValidateDevicePCISlotsQ35. */
  private slotsQ35(addrs: PciAddressSet): void {
    const flags = PCIE_DEVICE;
    for (const c of this.def.devices?.controller ?? []) {
      const idx = c.index ?? 0;
      if (c.type === 'sata' && idx === 0) {
        if (pciAddressPresent(c)) {
          const a = toAddr(c.address as PciAddress);
          if (a.domain !== 0 || a.bus !== 0 || a.slot !== 0x1f || a.function !== 2)
            throw virReportError(
              'INTERNAL_ERROR',
              'qemu',
              'Primary SATA controller must have PCI address 0:0:1f.2',
            );
        } else {
          setAddress(c, { domain: 0, bus: 0, slot: 0x1f, function: 2 });
        }
      } else if (c.type === 'usb' && c.model === 'ich9-uhci1' && c.address === undefined) {
        for (const slot of [0x1d, 0x1a]) {
          const a: PciAddr = { domain: 0, bus: 0, slot, function: 0 };
          if (addrs.slotInUse(a)) continue;
          addrs.reserve(a, flags, true);
          setAddress(c, { ...a, multi: 'on' });
          break;
        }
      } else if (c.type === 'pci' && c.model === 'dmi-to-pci-bridge' && c.address === undefined) {
        const a: PciAddr = { domain: 0, bus: 0, slot: 0x1e, function: 0 };
        if (!addrs.slotInUse(a)) {
          addrs.reserve(a, flags, true);
          setAddress(c, a);
        }
      }
    }
    if (addrs.buses.length) {
      addrs.reserve({ domain: 0, bus: 0, slot: 0x1f, function: 0, multi: 'on' }, flags, true);
      addrs.reserve({ domain: 0, bus: 0, slot: 0x1f, function: 3 }, flags, true);
    }
    this.primaryVideo(addrs, 1, flags);
    const hda: PciAddr = { domain: 0, bus: 0, slot: 0x1b, function: 0 };
    if (!addrs.slotInUse(hda)) {
      const sound = (this.def.devices?.sound ?? []).find((s) => s.model === 'ich9' && pciAddressWanted(s));
      if (sound) {
        addrs.reserve(hda, flags, true);
        setAddress(sound, hda);
      }
    }
  }

  validateChipsets(addrs: PciAddressSet): void {
    if (isI440fx(this.def)) this.slotsPIIX3(addrs);
    if (isQ35(this.def)) this.slotsQ35(addrs);
  }

  private next(addrs: PciAddressSet, dev: HasAddress): void {
    const got = addrs.reserveNext(this.flagsOf(dev));
    if (got) setAddress(dev, got);
  }

  /** qemuDomainAssignDevicePCISlots. */
  assignSlots(addrs: PciAddressSet): void {
    const d = this.def.devices ?? {};
    const controllers = d.controller ?? [];
    for (const c of controllers) {
      if (c.type !== 'pci' || c.model === 'pci-root' || c.model === 'pcie-root' || !pciAddressWanted(c))
        continue;
      this.next(addrs, c);
    }
    for (const fs of d.filesystem ?? []) if (pciAddressWanted(fs)) this.next(addrs, fs);
    for (const net of d.interface ?? []) {
      if (net.type === 'hostdev' || !pciAddressWanted(net)) continue;
      this.next(addrs, net);
    }
    for (const sound of d.sound ?? []) {
      if (!pciAddressWanted(sound)) continue;
      if (sound.model === 'sb16' || sound.model === 'pcspk' || sound.model === 'usb') continue;
      this.next(addrs, sound);
    }
    for (const c of controllers) {
      if (c.type === 'pci') continue;
      if (c.type === 'usb' && c.model === 'none') continue;
      if (c.type === 'fdc' || c.type === 'ccid') continue;
      if (c.type === 'ide' && (c.index ?? 0) === 0) continue;
      if (c.type === 'scsi' && c.model === 'ncr53c90') continue;
      if (!pciAddressWanted(c)) continue;
      if (isUsb2(c)) this.assignUsb2(addrs, c);
      else this.next(addrs, c);
    }
    for (const disk of d.disk ?? []) {
      if (disk.target?.bus !== 'virtio') continue;
      if (pciAddressPresent(disk) || disk.address?.type === 'ccw') continue;
      if (disk.address?.type === 'virtio-mmio' && hasFlag(this.ctx.caps, 'virtio-mmio')) continue;
      if (!pciAddressWanted(disk)) {
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          `virtio disk cannot have an address of type '${disk.address?.type}'`,
        );
      }
      this.next(addrs, disk);
    }
    // Interfaces of type hostdev come first in libvirt's host device list.
    for (const net of d.interface ?? []) {
      if (!netHostdevIsPci(net) || !pciAddressWanted(net) || net.address?.type === 'unassigned') continue;
      this.next(addrs, net);
    }
    for (const h of d.hostdev ?? []) {
      if (!pciAddressWanted(h)) continue;
      if ((h.mode ?? 'subsystem') !== 'subsystem') continue;
      if (h.type !== 'pci' && h.type !== 'scsi_host' && !(h.type === 'mdev' && h.model === 'vfio-pci'))
        continue;
      if (h.address?.type === 'unassigned') continue;
      this.next(addrs, h);
    }
    const balloon = d.memballoon;
    if (balloon && balloon.model !== 'none' && pciAddressWanted(balloon)) this.next(addrs, balloon);
    for (const rng of d.rng ?? []) if (pciAddressWanted(rng)) this.next(addrs, rng);
    for (const w of d.watchdog ?? []) {
      if (w.model === 'i6300esb' && pciAddressWanted(w)) this.next(addrs, w);
    }
    for (const v of d.video ?? []) {
      const type = v.model?.type;
      if (type === 'none' || type === 'ramfb' || !pciAddressWanted(v)) continue;
      this.next(addrs, v);
    }
    for (const s of d.shmem ?? []) if (pciAddressWanted(s)) this.next(addrs, s);
    for (const i of d.input ?? []) {
      if (i.bus === 'virtio' && pciAddressWanted(i)) this.next(addrs, i);
    }
    for (const s of d.serial ?? []) {
      if (s.target?.type === 'pci-serial' && pciAddressWanted(s)) this.next(addrs, s);
    }
    if (d.iommu?.model === 'virtio' && pciAddressWanted(d.iommu)) this.next(addrs, d.iommu);
    if (d.vsock && pciAddressWanted(d.vsock)) this.next(addrs, d.vsock);
    for (const m of d.memory ?? []) {
      if ((m.model === 'virtio-pmem' || m.model === 'virtio-mem') && pciAddressWanted(m)) this.next(addrs, m);
    }
  }

  /** USB2 companions share the slot of their EHCI/UHCI1 (functions 7, 0, 1, 2). */
  private assignUsb2(addrs: PciAddressSet, c: Controller): void {
    const idx = c.index ?? 0;
    const peer = (this.def.devices?.controller ?? []).find(
      (o) => isUsb2(o) && (o.index ?? 0) === idx && pciAddressPresent(o),
    );
    const addr: PciAddr = peer
      ? toAddr(peer.address as PciAddress)
      : { domain: 0, bus: 0, slot: 0, function: 0 };
    const fnByModel: Record<string, [number, 'on' | undefined]> = {
      'ich9-ehci1': [7, undefined],
      'ich9-uhci1': [0, 'on'],
      'ich9-uhci2': [1, undefined],
      'ich9-uhci3': [2, undefined],
    };
    const [fn, multi] = fnByModel[c.model ?? '']!;
    addr.function = fn;
    if (multi) addr.multi = multi;
    else delete addr.multi;
    if (peer) {
      addrs.reserve(addr, this.flagsOf(c), true);
      setAddress(c, addr);
    } else {
      const got = addrs.reserveNext(this.flagsOf(c), fn);
      if (got) setAddress(c, multi ? { ...got, multi } : got);
    }
  }

  /** virDomainPCIAddressSetAllMulti: function 0 of a slot with other functions in use. */
  setAllMulti(): void {
    const infos = deviceInfos(this.def);
    for (const info of infos) {
      if (info.dev.address?.type !== 'pci') continue;
      const t = toAddr(info.dev.address as PciAddress);
      if (t.function === 0) continue;
      for (const other of infos) {
        if (other.dev.address?.type !== 'pci') continue;
        const o = other.dev.address as PciAddress;
        if (
          (o.domain ?? 0) === t.domain &&
          (o.bus ?? 0) === t.bus &&
          (o.slot ?? 0) === t.slot &&
          !o.function
        ) {
          if (o.multifunction === undefined) o.multifunction = 'on';
          break;
        }
      }
    }
  }
}

const MODEL_NAMES: Partial<Record<PciControllerModel, string>> = {
  'pci-bridge': 'pci-bridge',
  'dmi-to-pci-bridge': 'i82801b11-bridge',
  'pcie-to-pci-bridge': 'pcie-pci-bridge',
  'pcie-switch-upstream-port': 'x3130-upstream',
  'pcie-switch-downstream-port': 'xio3130-downstream',
  'pci-expander-bus': 'pxb',
  'pcie-expander-bus': 'pxb-pcie',
};

/** qemuDomainAddressFindNewBusNr: two below the lowest busNr in use (254 for the first). */
function newBusNr(def: DomainDef): number {
  let lowest = 256;
  for (const c of pciControllers(def)) {
    const n = c.target?.busNr;
    if (n !== undefined && n >= 0 && n < lowest) lowest = n;
  }
  return lowest <= 2 ? -1 : lowest - 2;
}

/** The PCI controllers' `<model name>` and `<target>` defaults, and the bridge index check. */
function pciControllerDefaults(def: DomainDef, ctx: QemuContext): void {
  for (const c of pciControllers(def)) {
    const idx = c.index ?? 0;
    const model = c.model as PciControllerModel;
    if (!c.modelName?.name) {
      const name =
        model === 'pcie-root-port'
          ? hasFlag(ctx.caps, 'pcie-root-port')
            ? 'pcie-root-port'
            : 'ioh3420'
          : MODEL_NAMES[model];
      if (name) c.modelName = { ...c.modelName, name };
    }
    const addr = c.address?.type === 'pci' ? toAddr(c.address as PciAddress) : undefined;
    const target = () => (c.target ??= {});
    switch (model) {
      case 'pci-bridge':
        if (c.target?.chassisNr === undefined) target().chassisNr = idx;
        break;
      case 'pcie-root-port':
        if (c.target?.chassis === undefined) target().chassis = idx;
        if (c.target?.port === undefined) target().port = ((addr?.slot ?? 0) << 3) + (addr?.function ?? 0);
        break;
      case 'pcie-switch-downstream-port':
        if (c.target?.chassis === undefined) target().chassis = idx;
        if (c.target?.port === undefined) target().port = addr?.slot ?? 0;
        break;
      case 'pci-expander-bus':
      case 'pcie-expander-bus':
        if (c.target?.busNr === undefined) {
          const busNr = newBusNr(def);
          if (busNr === -1) {
            throw virReportError(
              'CONFIG_UNSUPPORTED',
              'qemu',
              `No free busNr lower than current lowest busNr is available to auto-assign to bus ${addr?.bus ?? 0}. Must be manually assigned`,
            );
          }
          target().busNr = busNr;
        }
        break;
      default:
        break;
    }
    if (model === 'pci-bridge' && idx <= (addr?.bus ?? 0)) {
      const h = (n: number) => n.toString(16).padStart(2, '0');
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        `PCI controller at index ${idx} (0x${h(idx)}) has bus='0x${h(addr?.bus ?? 0)}', but index must be larger than bus`,
      );
    }
  }
}

export function pciAddresses(def: DomainDef, ctx: QemuContext): void {
  if (!isX86(def)) return;
  const devices = devicesOf(def);
  let maxIdx = -1;
  for (const c of pciControllers(def)) maxIdx = Math.max(maxIdx, c.index ?? 0);
  let nbuses = maxIdx + 1;
  const as = new Assigner(def, ctx);

  if (nbuses > 0) {
    // Dry run: how many buses do the devices need?
    const addrs = as.createSet(nbuses, true);
    as.validateChipsets(addrs);
    if (rootModel(def) === 'pci-root' && addrs.buses.some((b) => !addrs.busIsFullyReserved(b))) {
      // One spare slot for a future pci-bridge.
      addrs.reserveNext(PCI_FLAGS);
    }
    as.assignSlots(addrs);
    if (maxIdx <= 0 && addrs.buses.length > maxIdx + 1 && rootModel(def) === 'pcie-root') {
      // One empty pcie-root-port for hotplug when libvirt manages the topology.
      addrs.reserveNext(PCIE_DEVICE | AUTOASSIGN);
    }
    for (let i = 1; i < addrs.buses.length; i++) {
      const bus = addrs.buses[i]!;
      if (pciControllers(def).some((c) => (c.index ?? 0) === i)) continue;
      const cont: Controller = { type: 'pci', index: i, model: bus.model };
      (devices.controller ??= []).push(cont);
      const flags = controllerConnectType(bus.model);
      as.flags.set(cont, flags);
      if (bus.model !== 'pci-root' && bus.model !== 'pcie-root') addrs.reserveNext(flags);
    }
    nbuses = addrs.buses.length;
  }

  const addrs = as.createSet(nbuses, false);
  as.validateChipsets(addrs);
  as.assignSlots(addrs);
  as.setAllMulti();
  pciControllerDefaults(def, ctx);
}
