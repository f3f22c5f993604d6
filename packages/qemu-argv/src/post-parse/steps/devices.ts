import type { DomainDef } from '@qvirt/core';
import { devicesOf, isI440fx, isQ35, isX86 } from '../../domain-util.js';
import { diskNameIndex } from './drive-addresses.js';

type Controller = NonNullable<NonNullable<DomainDef['devices']>['controller']>[number];

const BUS_BY_PREFIX: Array<[string, string]> = [
  ['hd', 'ide'],
  ['sd', 'scsi'],
  ['vd', 'virtio'],
  ['xvd', 'xen'],
  ['fd', 'fdc'],
  ['ubd', 'uml'],
];

/** Disk defaults: the bus from the target name, the qemu driver with raw images. */
export function diskDefaults(def: DomainDef): void {
  for (const disk of devicesOf(def).disk ?? []) {
    disk.target ??= {};
    const target = disk.target;
    if (target.bus === undefined && target.dev) {
      const bus = BUS_BY_PREFIX.find(([p]) => target.dev!.startsWith(p))?.[1];
      if (bus) target.bus = bus as NonNullable<typeof target.bus>;
    }
    if ((disk.type !== 'dir' && disk.type !== 'network') || disk.driver === undefined) {
      disk.driver = { name: 'qemu', type: 'raw', ...disk.driver };
    }
  }
}

/**
 * Adds a controller unless one of that type and index exists. libvirt inserts a controller after
 * the last one of its type, or at the end.
 */
export function ensureController(def: DomainDef, controller: Controller): Controller {
  const list = (devicesOf(def).controller ??= []);
  const found = list.find((c) => c.type === controller.type && (c.index ?? 0) === (controller.index ?? 0));
  if (found) return found;
  let at = list.length;
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i]!.type === controller.type) {
      at = i + 1;
      break;
    }
  }
  list.splice(at, 0, controller);
  return controller;
}

/** The controllers every PC has, and those its disks need. */
export function implicitControllers(def: DomainDef): void {
  if (!isX86(def)) return;
  if (isI440fx(def)) ensureController(def, { type: 'usb', index: 0, model: 'piix3-uhci' });
  else if (isQ35(def)) ensureController(def, { type: 'usb', index: 0, model: 'qemu-xhci' });
  if (isI440fx(def)) ensureController(def, { type: 'pci', index: 0, model: 'pci-root' });
  else if (isQ35(def)) ensureController(def, { type: 'pci', index: 0, model: 'pcie-root' });
  const buses = new Set((def.devices?.disk ?? []).map((d) => d.target?.bus));
  if (buses.has('ide') && isI440fx(def)) ensureController(def, { type: 'ide', index: 0 });
}

/** x86 guests always have a PS/2 mouse and keyboard. */
export function implicitInputs(def: DomainDef): void {
  if (!isX86(def)) return;
  const inputs = (devicesOf(def).input ??= []);
  for (const type of ['mouse', 'keyboard'] as const) {
    if (!inputs.some((i) => i.type === type && i.bus === 'ps2')) inputs.push({ type, bus: 'ps2' });
  }
}

/** Without an `<audio>` backend, libvirt 9.0 adds one of type none. */
export function implicitAudio(def: DomainDef): void {
  const devices = devicesOf(def);
  if (!devices.audio?.length) devices.audio = [{ id: 1, type: 'none' }];
}

/** Every QEMU domain has a virtio memory balloon unless it asks for none. */
export function implicitMemballoon(def: DomainDef): void {
  const devices = devicesOf(def);
  devices.memballoon ??= { model: 'virtio' };
}

/**
 * Disks in libvirt's order (virDomainDiskInsert, applied as each disk is parsed): a disk goes
 * before the first disk on its bus with a higher target index, else after the last disk on its bus,
 * else at the end.
 */
export function diskOrder(def: DomainDef): void {
  const disks = def.devices?.disk;
  if (!disks || disks.length < 2) return;
  const sorted: typeof disks = [];
  for (const disk of disks) {
    let at = -1;
    const idx = diskNameIndex(disk.target?.dev ?? '');
    for (let i = sorted.length - 1; i >= 0; i--) {
      const other = sorted[i]!;
      if (other.target?.bus !== disk.target?.bus) continue;
      const otherIdx = diskNameIndex(other.target?.dev ?? '');
      if (idx !== undefined && otherIdx !== undefined && otherIdx > idx) at = i;
      else if (at === -1) at = i + 1;
    }
    if (at === -1) sorted.push(disk);
    else sorted.splice(at, 0, disk);
  }
  def.devices!.disk = sorted;
}
