/** Small helpers the device post-parse steps share. */
import type { DomainDef, DomainDevices } from '@qvirt/core';
import { isDriveAddress } from '@qvirt/core';

export type Controller = NonNullable<DomainDevices['controller']>[number];
export type Disk = NonNullable<DomainDevices['disk']>[number];
export type Hostdev = NonNullable<DomainDevices['hostdev']>[number];

/** libvirt's virDiskNameToIndex: `hda` → 0, `sdz` → 25, `vdaa` → 26, `hdb3` → 1; -1 when invalid. */
export function diskIndex(dev: string | undefined): number {
  if (!dev) return -1;
  const m = /^(?:fd|hd|vd|sd|xvd|ubd)([a-z]+)(\d*)$/.exec(dev);
  if (!m) return -1;
  let idx = 0;
  const letters = m[1]!;
  for (let i = 0; i < letters.length; i++) idx = (idx + (i < 1 ? 0 : 1)) * 26 + (letters.charCodeAt(i) - 97);
  return idx;
}

/** The number of units a narrow SCSI bus has (libvirt's qemu driver does not use wide buses). */
export const SCSI_BUS_MAX_UNIT = 7;

/**
 * The drive controller a disk ends up on: its `<address type='drive'>`, else the one libvirt's
 * virDomainDiskDefAssignAddress derives from the target name; undefined for other buses.
 */
export function diskDriveController(disk: Disk): number | undefined {
  if (disk.address) return isDriveAddress(disk.address) ? (disk.address.controller ?? 0) : undefined;
  const idx = diskIndex(disk.target?.dev);
  if (idx < 0) return undefined;
  switch (disk.target?.bus) {
    case 'scsi':
      return Math.floor(idx / SCSI_BUS_MAX_UNIT);
    case 'ide':
      return Math.floor(idx / 4);
    case 'sata':
      return Math.floor(idx / 6);
    case 'fdc':
      return Math.floor(idx / 2);
    default:
      return undefined;
  }
}

export function isScsiHostdev(h: Hostdev): boolean {
  const hd = h as { mode?: string; type?: string };
  return (hd.mode ?? 'subsystem') === 'subsystem' && hd.type === 'scsi';
}

export function findController(def: DomainDef, type: string, index: number): Controller | undefined {
  return def.devices?.controller?.find((c) => c.type === type && (c.index ?? -1) === index);
}

/** virDomainControllerFindUnusedIndex: the lowest index no controller of the type has. */
export function unusedControllerIndex(def: DomainDef, type: string): number {
  let idx = 0;
  while (findController(def, type, idx)) idx++;
  return idx;
}

/** virDomainDefAddController: append a controller (index -1 → the lowest unused one). */
export function appendController(
  def: DomainDef,
  type: string,
  index: number,
  model?: string,
  extra: Partial<Controller> = {},
): Controller {
  const devices = (def.devices ??= {});
  const c: Controller = { type, index: index < 0 ? unusedControllerIndex(def, type) : index, ...extra };
  if (model !== undefined) c.model = model;
  (devices.controller ??= []).push(c);
  return c;
}

/** virDomainDefMaybeAddController: append unless that type and index exist. */
export function maybeAddController(def: DomainDef, type: string, index: number, model?: string): void {
  if (index >= 0 && findController(def, type, index)) return;
  appendController(def, type, index, model);
}
