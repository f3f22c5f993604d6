/**
 * Drive addresses (controller/bus/target/unit) of disks on controller buses, from their target
 * names (libvirt's virDomainDiskDefAssignAddress), and of SCSI host devices, on the first free
 * unit (virDomainHostdevAssignAddress). libvirt does this in device post-parse, before it adds
 * the controllers these addresses refer to.
 */
import type { DomainDef, DriveAddress } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { devicesOf } from '../../domain-util.js';

const DISK_PREFIXES = ['fd', 'hd', 'vd', 'sd', 'xvd', 'ubd'];

/**
 * virDiskNameToIndex: `hda` → 0, `hdz` → 25, `hdaa` → 26; trailing partition digits are ignored.
 * Undefined for a name libvirt cannot parse.
 */
export function diskNameIndex(dev: string): number | undefined {
  const prefix = DISK_PREFIXES.find((p) => dev.startsWith(p));
  if (prefix === undefined) return undefined;
  const m = /^([a-z]+)([0-9]*)$/.exec(dev.slice(prefix.length));
  if (!m) return undefined;
  let idx = 0;
  [...m[1]!].forEach((c, i) => {
    idx = (idx + (i < 1 ? 0 : 1)) * 26 + (c.charCodeAt(0) - 97);
  });
  return idx;
}

/** libvirt's default (narrow) SCSI bus: 8 units, the last one being the controller. */
const SCSI_BUS_MAX_UNIT = 8;

type Drive = Required<Pick<DriveAddress, 'controller' | 'bus' | 'target' | 'unit'>>;

const drive = (a: DriveAddress): Drive => ({
  controller: a.controller ?? 0,
  bus: a.bus ?? 0,
  target: a.target ?? 0,
  unit: a.unit ?? 0,
});

const sameDrive = (a: Drive, b: Drive): boolean =>
  a.controller === b.controller && a.bus === b.bus && a.target === b.target && a.unit === b.unit;

function usedByDisk(def: DomainDef, bus: string, addr: Drive): boolean {
  return (def.devices?.disk ?? []).some(
    (d) =>
      d.target?.bus === bus &&
      d.address?.type === 'drive' &&
      sameDrive(drive(d.address as DriveAddress), addr),
  );
}

function usedByScsiHostdev(def: DomainDef, addr: Drive): boolean {
  return (def.devices?.hostdev ?? []).some(
    (h) =>
      h.type === 'scsi' && h.address?.type === 'drive' && sameDrive(drive(h.address as DriveAddress), addr),
  );
}

/** virDomainSCSIDriveAddressIsUsed: taken, or beyond what the controller model offers. */
function scsiAddressUsed(def: DomainDef, addr: Drive): boolean {
  const cont = (def.devices?.controller ?? []).find(
    (c) => c.type === 'scsi' && (c.index ?? 0) === addr.controller,
  );
  if (cont) {
    let max = -1;
    let reserved = -1;
    switch (cont.model) {
      case 'virtio-scsi':
      case 'virtio-transitional':
      case 'virtio-non-transitional':
        max = 16383;
        break;
      case 'ibmvscsi':
        max = 31;
        reserved = 7;
        break;
      case 'lsisas1068':
        max = 1;
        break;
      case 'lsisas1078':
        max = 255;
        break;
      case 'lsilogic':
      case 'vmpvscsi':
      case 'buslogic':
        reserved = 7;
        break;
      case 'ncr53c90':
      case 'dc390':
      case 'am53c974':
        max = 6;
        break;
      default:
        break;
    }
    if (max !== -1 && addr.unit > max) return true;
    if (reserved !== -1 && addr.unit === reserved) return true;
  }
  return usedByDisk(def, 'scsi', addr) || usedByScsiHostdev(def, addr);
}

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

/** virDomainDiskDefAssignAddress for one disk. */
export function assignDiskAddress(def: DomainDef, disk: Disk): void {
  const dst = disk.target?.dev;
  if (disk.address || !dst) return;
  const idx = diskNameIndex(dst);
  if (idx === undefined) {
    throw virReportError('XML_ERROR', 'qemu', `Unknown disk name '${dst}' and no address specified`);
  }
  let addr: Drive;
  switch (disk.target?.bus) {
    case 'scsi': {
      addr = { controller: Math.floor(idx / 7), bus: 0, target: 0, unit: idx % 7 };
      if (usedByScsiHostdev(def, addr)) {
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          `using disk target name '${dst}' conflicts with SCSI host device address controller='${addr.controller}' bus='0' target='0' unit='${addr.unit}`,
        );
      }
      break;
    }
    case 'ide':
      addr = { controller: Math.floor(idx / 4), bus: Math.floor((idx % 4) / 2), target: 0, unit: idx % 2 };
      break;
    case 'sata':
      addr = { controller: Math.floor(idx / 6), bus: 0, target: 0, unit: idx % 6 };
      break;
    case 'fdc':
      addr = { controller: Math.floor(idx / 2), bus: 0, target: 0, unit: idx % 2 };
      break;
    default:
      return;
  }
  disk.address = { type: 'drive', ...addr };
}

/** Drive addresses of disks, then of SCSI host devices (libvirt's device post-parse order). */
export function driveAddresses(def: DomainDef): void {
  const devices = devicesOf(def);
  for (const disk of devices.disk ?? []) assignDiskAddress(def, disk);
  for (const h of devices.hostdev ?? []) {
    if ((h.mode ?? 'subsystem') !== 'subsystem' || h.type !== 'scsi') continue;
    if (!h.address) {
      let controller = 0;
      let unit = -1;
      for (;;) {
        for (let u = 0; u < SCSI_BUS_MAX_UNIT; u++) {
          if (!scsiAddressUsed(def, { controller, bus: 0, target: 0, unit: u })) {
            unit = u;
            break;
          }
        }
        if (unit >= 0) break;
        controller++;
      }
      h.address = { type: 'drive', controller, bus: 0, target: 0, unit };
    }
    if (h.address.type === 'drive') {
      const a = drive(h.address as DriveAddress);
      if (usedByDisk(def, 'scsi', a)) {
        throw virReportError(
          'XML_ERROR',
          'qemu',
          `SCSI host address controller='${a.controller}' bus='${a.bus}' target='${a.target}' unit='${a.unit}' in use by a SCSI disk`,
        );
      }
    }
  }
}
