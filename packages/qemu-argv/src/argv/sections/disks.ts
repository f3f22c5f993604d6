/**
 * Disks (qemuBuildDisksCommandLine): the floppy controller's boot options, then per disk the
 * objects and `-blockdev` layers of its backing chain (bottom image first), an optional
 * copy-on-read layer, and the guest `-device`.
 */
import { type DomainDef, isDriveAddress, VirError, virReportError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import { isQ35 } from '../../domain-util.js';
import { diskNameToIndex } from '../aliases.js';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { jsonProps, opts, type PropObject, type PropValue } from '../props.js';
import {
  type ChainSource,
  cacheProps,
  cacheWriteback,
  chainImages,
  diskChain,
  formatBlockdevProps,
  isEmptySource,
  needsSliceLayer,
  nodeFormat,
  sliceBlockdevProps,
  sourceDeps,
  storageBlockdevProps,
  validateChainSource,
} from '../storage-blockdev.js';
import { deviceJson, exactInteger } from '../storage-device-json.js';
import { virtioDevProps } from '../storage-virtio-props.js';

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

function internal(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/**
 * The boot index each device gets (qemuProcessPrepareDeviceBootorder): with `<os><boot dev>`
 * the first disk of each kind and the first interface get the position of their boot device;
 * otherwise each device's own `<boot order>`.
 */
export function effectiveBootIndexes(def: DomainDef): Map<object, number> {
  const out = new Map<object, number>();
  const devs = def.devices ?? {};
  const bootDevs = def.os?.boot ?? [];
  if (bootDevs.length === 0) {
    const lists: Array<Array<{ boot?: { order?: number } }> | undefined> = [
      devs.disk,
      devs.interface,
      devs.hostdev,
      devs.redirdev,
      devs.filesystem,
    ];
    for (const list of lists) {
      for (const d of list ?? []) if (d.boot?.order) out.set(d, d.boot.order);
    }
    return out;
  }
  let cd = 0;
  let fd = 0;
  let hd = 0;
  let net = 0;
  bootDevs.forEach((bd, i) => {
    if (bd.dev === 'cdrom') cd = i + 1;
    else if (bd.dev === 'fd') fd = i + 1;
    else if (bd.dev === 'hd') hd = i + 1;
    else if (bd.dev === 'network') net = i + 1;
  });
  for (const disk of devs.disk ?? []) {
    const device = disk.device ?? 'disk';
    if (device === 'cdrom') {
      if (cd) out.set(disk, cd);
      cd = 0;
    } else if (device === 'disk' || device === 'lun') {
      if (hd) out.set(disk, hd);
      hd = 0;
    } else if (device === 'floppy') {
      if (fd) out.set(disk, fd);
      fd = 0;
    }
  }
  const first = devs.interface?.[0];
  if (first && net) {
    if (first.type === 'hostdev') {
      const h = (devs.hostdev ?? []).find((x) => x.type === 'pci' && x.address?.type !== 'unassigned');
      if (h) out.set(h, net);
    } else {
      out.set(first, net);
    }
  }
  return out;
}

/** @deprecated use effectiveBootIndexes */
export const osBootIndexes = effectiveBootIndexes;

export interface DiskChains {
  chains: Map<Disk, ChainSource>;
  /** The next storage id, for hostdevs prepared after the disks (`libvirt-N-backend`). */
  nextId: number;
}

const chainCache = new WeakMap<DomainDef, DiskChains>();

/**
 * The backing chains of the disks with their storage ids, assigned from the last disk to the first
 * (qemuProcessPrepareDomainStorage) and from the top image down. Disks on the SD bus and
 * vhost-user disks get no ids.
 */
export function diskChains(def: DomainDef): DiskChains {
  const cached = chainCache.get(def);
  if (cached) return cached;
  const chains = new Map<Disk, ChainSource>();
  let id = 1;
  const nextId = () => id++;
  const disks = def.devices?.disk ?? [];
  for (let i = disks.length - 1; i >= 0; i--) {
    const disk = disks[i] as Disk;
    if (disk.type === 'volume') {
      const policy = disk.source?.startupPolicy;
      if (policy === 'optional') continue;
      throw virReportError(
        'NO_STORAGE_POOL',
        'qemu',
        `no storage pool with matching name '${disk.source?.pool ?? ''}'`,
      );
    }
    if (disk.type === 'vhostuser') continue;
    if (disk.target?.bus === 'sd') continue;
    const chain = diskChain(disk, nextId);
    for (const img of chainImages(chain)) validateChainSource(img);
    chains.set(disk, chain);
  }
  const result = { chains, nextId: id };
  chainCache.set(def, result);
  return result;
}

/** The node name a disk's `-device` uses (qemuDomainDiskGetTopNodename). */
function topNodeName(disk: Disk, chain: ChainSource | undefined): string | undefined {
  if (!chain || isEmptySource(chain.type, chain.source)) return undefined;
  if (disk.driver?.copy_on_read === 'on') return `libvirt-CoR-${disk.target?.dev ?? ''}`;
  return nodeFormat(chain);
}

/** The disk serial with spaces escaped (virBufferEscape with '\\'). */
function escapeSerial(serial: string): string {
  return serial.replace(/ /g, '\\ ');
}

/** Werror/rerror of a disk (qemuBuildDiskGetErrorPolicy). */
function errorPolicies(disk: Disk): [string | undefined, string | undefined] {
  const e = disk.driver?.error_policy;
  let w: string | undefined = e;
  let r: string | undefined = disk.driver?.rerror_policy;
  if (e === 'enospace') w = 'enospc';
  else if (!r) r = w;
  return [w, r];
}

/** The guest device of a disk (qemuBuildDiskDeviceProps). */
export function diskDeviceProps(
  b: Build,
  disk: Disk,
  chain: ChainSource | undefined,
  bootIndex?: number,
): PropObject {
  const def = b.def;
  const bus = disk.target?.bus ?? '';
  const device = disk.device ?? 'disk';
  let props: PropObject = {};
  let scsiDeviceId: string | undefined;
  let removable: boolean | undefined;
  switch (bus) {
    case 'ide':
    case 'sata':
      props.driver = device === 'cdrom' ? 'ide-cd' : 'ide-hd';
      break;
    case 'scsi':
      if (device === 'lun') {
        props.driver = 'scsi-block';
      } else {
        props.driver = device === 'cdrom' ? 'scsi-cd' : 'scsi-hd';
        scsiDeviceId = disk.serial ?? `drive-${disk.alias?.name ?? ''}`;
      }
      break;
    case 'virtio': {
      const drv = disk.driver ?? {};
      let scsi: boolean | undefined;
      if (disk.type !== 'vhostuser' && hasFlag(b.ctx.caps, 'virtio-blk-pci.scsi')) {
        if (device === 'lun') scsi = true;
        else if (!hasFlag(b.ctx.caps, 'virtio-blk-pci.scsi.default.disabled')) scsi = false;
      }
      props = {
        ...virtioDevProps(b.ctx, disk.type === 'vhostuser' ? 'vhost-user-blk' : 'virtio-blk', {
          address: disk.address,
          model: disk.model,
          driver: drv,
        }),
        iothread: drv.iothread ? `iothread${drv.iothread}` : undefined,
        ioeventfd: drv.ioeventfd === undefined ? undefined : drv.ioeventfd === 'on',
        event_idx: drv.event_idx === undefined ? undefined : drv.event_idx === 'on',
        scsi,
        'num-queues': drv.queues || undefined,
        'queue-size': drv.queue_size || undefined,
      };
      break;
    }
    case 'usb':
      props.driver = 'usb-storage';
      if (hasFlag(b.ctx.caps, 'usb-storage.removable')) removable = disk.target?.removable === 'on';
      break;
    case 'fdc':
      props.driver = 'floppy';
      break;
    default:
      throw internal(`unsupported disk bus '${bus}' with device setup`);
  }
  Object.assign(props, deviceAddressProps(def, disk, bus));
  let wwn: PropValue;
  if (disk.wwn) {
    if (!/^(0x)?[0-9a-f]+$/i.test(disk.wwn)) {
      throw new VirError('INVALID_ARG', 'qemu', `Failed to parse wwn '${disk.wwn}' as number`);
    }
    wwn = exactInteger(BigInt(`0x${disk.wwn.replace(/^0x/i, '')}`));
  }
  const cache = chain?.cache ?? disk.driver?.cache;
  let writeCache: string | undefined;
  if (cache && cache !== 'default' && device !== 'lun') writeCache = cacheWriteback(cache) ? 'on' : 'off';
  const geo = disk.geometry;
  const [werror, rerror] = errorPolicies(disk);
  Object.assign(props, {
    device_id: scsiDeviceId,
    'share-rw': disk.shareable ? true : undefined,
    drive: disk.type === 'vhostuser' ? undefined : topNodeName(disk, chain),
    chardev: disk.type === 'vhostuser' ? `chr-vu-${disk.alias?.name ?? ''}` : undefined,
    id: disk.alias?.name,
    bootindex: device !== 'floppy' && bootIndex ? bootIndex : undefined,
    logical_block_size: disk.blockio?.logical_block_size || undefined,
    physical_block_size: disk.blockio?.physical_block_size || undefined,
    wwn,
    rotation_rate: disk.target?.rotation_rate || undefined,
    vendor: disk.vendor,
    product: disk.product,
    removable,
    'write-cache': writeCache,
    cyls: geo?.cyls || undefined,
    heads: geo?.heads || undefined,
    secs: geo?.secs || undefined,
    'bios-chs-trans': geo?.trans,
    serial: disk.serial !== undefined ? escapeSerial(disk.serial) : undefined,
    werror,
    rerror,
  });
  return props;
}

/** `-global isa-fdc.bootindexA=…` (or an explicit isa-fdc on q35) for bootable floppies. */
function floppyController(b: Build, boot: Map<object, number>): void {
  let a = 0;
  let bIdx = 0;
  let hasFloppy = false;
  for (const disk of b.def.devices?.disk ?? []) {
    if (disk.target?.bus !== 'fdc') continue;
    hasFloppy = true;
    const unit = isDriveAddress(disk.address) ? (disk.address.unit ?? 0) : 0;
    if (unit) bIdx = boot.get(disk) ?? 0;
    else a = boot.get(disk) ?? 0;
  }
  if (!hasFloppy) return;
  if (isQ35(b.def)) {
    add(
      b,
      '-device',
      deviceJson(b.def, { driver: 'isa-fdc', bootindexA: a || undefined, bootindexB: bIdx || undefined }),
    );
  } else {
    if (a > 0) add(b, '-global', `isa-fdc.bootindexA=${a}`);
    if (bIdx > 0) add(b, '-global', `isa-fdc.bootindexB=${bIdx}`);
  }
}

/** `-drive …,if=sd` of an SD card (qemuBuildDriveStr). */
function sdDrive(disk: Disk): string {
  const type = disk.type ?? 'file';
  const src = disk.source ?? {};
  let text = '';
  const empty = isEmptySource(type, src);
  if (type === 'file' || type === 'block' || type === 'dir') {
    const path = type === 'file' ? src.file : type === 'block' ? src.dev : src.dir;
    const prefix = type === 'dir' ? (disk.device === 'floppy' ? 'fat:floppy:' : 'fat:') : '';
    text += `file=${prefix}${(path ?? '').replace(/,/g, ',,')}`;
  } else if (type === 'network') {
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', 'network storage is not supported for SD card disks');
  }
  text += ',';
  const format = disk.driver?.type;
  if (format && type !== 'dir') text += `format=${format},`;
  const parts: Array<[string, string | undefined]> = [];
  if (disk.readonly) parts.push(['readonly', 'on']);
  if (!empty) {
    const drv = disk.driver ?? {};
    if (drv.cache && drv.cache !== 'default') parts.push(['cache', drv.cache]);
    if (drv.copy_on_read) parts.push(['copy-on-read', drv.copy_on_read]);
    if (drv.discard) parts.push(['discard', drv.discard]);
    let dz = drv.detect_zeroes;
    if (dz === 'unmap' && drv.discard !== 'unmap') dz = 'on';
    if (dz && dz !== 'off') parts.push(['detect-zeroes', dz]);
    if (drv.io) parts.push(['aio', drv.io]);
  }
  text += `if=sd,index=${diskNameToIndex(disk.target?.dev ?? '')}`;
  const rest = opts(undefined, parts);
  return rest ? `${text},${rest}` : text;
}

export function disks(b: Build): void {
  const def = b.def;
  const all = def.devices?.disk ?? [];
  const boot = effectiveBootIndexes(def);
  const { chains } = diskChains(def);
  floppyController(b, boot);
  for (const disk of all) {
    if (disk.transient && disk.transient.shareBacking === 'yes') continue;
    const chain = chains.get(disk);
    if (disk.type === 'vhostuser') {
      const src = disk.source ?? {};
      const reconnect = src.reconnect?.enabled === 'yes' ? src.reconnect.timeout : undefined;
      add(
        b,
        '-chardev',
        opts('socket', [
          ['id', `chr-vu-${disk.alias?.name ?? ''}`],
          ['path', src.path],
          ['reconnect', reconnect],
        ]),
      );
    } else if (disk.target?.bus === 'sd') {
      add(b, '-drive', sdDrive(disk));
      continue;
    } else if (chain && !isEmptySource(chain.type, chain.source)) {
      const images = chainImages(chain);
      for (let i = images.length - 1; i >= 0; i--) {
        const img = images[i] as ChainSource;
        const deps = sourceDeps(b, img);
        for (const o of deps.objects) add(b, '-object', jsonProps(o));
        add(b, '-blockdev', jsonProps(storageBlockdevProps(b.ctx, img, deps)));
        if (needsSliceLayer(img)) add(b, '-blockdev', jsonProps(sliceBlockdevProps(img)));
        add(b, '-blockdev', jsonProps(formatBlockdevProps(img, deps)));
      }
      if (disk.driver?.copy_on_read === 'on') {
        add(
          b,
          '-blockdev',
          jsonProps({
            driver: 'copy-on-read',
            'node-name': `libvirt-CoR-${disk.target?.dev ?? ''}`,
            file: nodeFormat(chain),
            discard: 'unmap',
          }),
        );
      }
    }
    add(b, '-device', deviceJson(def, diskDeviceProps(b, disk, chain, boot.get(disk))));
  }
}

/** Re-exported for helpers that build blockdevs of their own (pflash, hostdev). */
export { cacheProps };
