/**
 * `<disk type='volume'>` at start (qemuDomainPrepareDiskSource → virDomainDiskTranslateSourcePool):
 * each disk (and backing store) naming `<source pool= volume=>` is resolved through the
 * instance's storage driver to the volume's path and kind, so the command line and the security
 * labels see a file, block device or directory. Resolution goes through the storage contract
 * only (pool and volume lookups, the volume's info and path, the pool's XML for its type), so the
 * in-process driver and a remote one behave alike.
 */

import type { DomainDef } from '@qvirt/core';
import { VirError, virReportError } from '@qvirt/core';
import type { StorageDriver } from '@qvirt/core/hypervisor';

/** libvirt's VIR_STORAGE_VOL_* numbers as the disk's actual type. */
const ACTUAL_TYPE: Record<number, 'file' | 'block' | 'dir' | undefined> = {
  0: 'file',
  1: 'block',
  2: 'dir',
  5: 'file',
};
const VOL_TYPE_NAMES = ['file', 'block', 'dir', 'network', 'netdir', 'ploop'];
const LOCAL_POOLS = new Set(['dir', 'fs', 'netfs', 'logical', 'disk', 'scsi', 'zfs', 'vstorage']);

interface SourceLike {
  pool?: string;
  volume?: string;
  mode?: string;
  file?: string;
  dev?: string;
  dir?: string;
  startupPolicy?: string;
}
interface DiskLike {
  type?: string;
  source?: SourceLike;
  backingStore?: DiskLike;
  device?: string;
}

/** virDomainStorageSourceTranslateSourcePool for one source; returns its actual type and path. */
async function translate(
  storage: StorageDriver,
  src: SourceLike,
): Promise<{ type: 'file' | 'block' | 'dir'; path: string }> {
  const pool = await storage.storagePoolLookupByName(src.pool!);
  if ((await storage.storagePoolIsActive(pool)) !== 1) {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'domain',
      `storage pool '${src.pool}' containing volume '${src.volume}' is not active`,
    );
  }
  const vol = await storage.storageVolLookupByName(pool, src.volume!);
  const info = await storage.storageVolGetInfo(vol);
  const poolType = /<pool type='([^']+)'/.exec(await storage.storagePoolGetXMLDesc(pool, 0))?.[1] ?? '';
  if (src.mode && poolType !== 'iscsi') {
    throw virReportError(
      'XML_ERROR',
      'domain',
      'disk source mode is only valid when storage pool is of iscsi type',
    );
  }
  if (!LOCAL_POOLS.has(poolType)) {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'domain',
      `using '${poolType}' pools for backing 'volume' disks isn't yet supported`,
    );
  }
  const type = ACTUAL_TYPE[info.type];
  if (!type) {
    throw virReportError(
      'INTERNAL_ERROR',
      'domain',
      `unexpected storage volume type '${VOL_TYPE_NAMES[info.type] ?? info.type}' for storage pool type '${poolType}'`,
    );
  }
  return { type, path: await storage.storageVolGetPath(vol) };
}

/**
 * virDomainDiskTranslateSourcePool over a definition about to run: volume disks become the
 * file, block or dir disks they resolve to. Without a storage driver such a disk fails as
 * libvirt fails without one.
 */
export async function translateVolumeDisks(
  def: DomainDef,
  storage: (() => Promise<StorageDriver>) | undefined,
): Promise<VolumeTranslation> {
  const disks = (def.devices?.disk ?? []) as unknown as DiskLike[];
  // the disks as written, for the live definition (libvirt keeps showing type='volume')
  const written = new Map<number, DiskLike>();
  disks.forEach((d, i) => {
    if (hasVolume(d)) written.set(i, structuredClone(d));
  });
  let driver: StorageDriver | undefined;
  for (const disk of disks) {
    for (let n: DiskLike | undefined = disk; n; n = n.backingStore) {
      if (n.type !== 'volume' || !n.source?.pool || !n.source.volume) continue;
      if (!driver) {
        if (!storage) {
          throw new VirError(
            'NO_SUPPORT',
            'storage',
            'this function is not supported by the connection driver: virStoragePoolLookupByName',
          );
        }
        driver = await storage();
      }
      let resolved: { type: 'file' | 'block' | 'dir'; path: string };
      try {
        resolved = await translate(driver, n.source);
      } catch (err) {
        // virDomainDiskDefValidateStartupPolicy: an optional cdrom/floppy whose volume is gone is dropped
        if (n === disk && disk.source?.startupPolicy === 'optional') {
          delete n.source;
          n.type = 'file';
          break;
        }
        throw err;
      }
      const { pool: _p, volume: _v, mode: _m, ...rest } = n.source;
      n.type = resolved.type;
      n.source = {
        ...rest,
        ...(resolved.type === 'file'
          ? { file: resolved.path }
          : resolved.type === 'block'
            ? { dev: resolved.path }
            : { dir: resolved.path }),
      };
    }
  }
  return {
    live(d) {
      if (written.size === 0 || !d.devices?.disk) return d;
      const disk = (d.devices.disk as unknown as DiskLike[]).map((x, i) => {
        const w = written.get(i);
        // the run's own additions (aliases) stay; type and source are the written ones
        return w ? { ...x, type: w.type, source: w.source, backingStore: w.backingStore } : x;
      });
      return { ...d, devices: { ...d.devices, disk: disk as never } };
    },
  };
}

/** What a start resolved: `live` gives the definition to show (volume disks as written). */
export interface VolumeTranslation {
  live(def: DomainDef): DomainDef;
}

function hasVolume(d: DiskLike | undefined): boolean {
  for (let n = d; n; n = n.backingStore) if (n.type === 'volume' && n.source?.pool) return true;
  return false;
}

/**
 * qemuProcessReconnect's translation: a running domain's recorded definition names its volumes;
 * the paths its labels were set on are the volumes' paths. When the storage driver cannot say
 * (a pool gone), the recorded definition is used as it is.
 */
export async function translatedForRestore(
  def: DomainDef,
  storage: (() => Promise<StorageDriver>) | undefined,
): Promise<DomainDef> {
  if (!storage || !(def.devices?.disk ?? []).some((d) => hasVolume(d as unknown as DiskLike))) return def;
  const copy = structuredClone(def);
  try {
    await translateVolumeDisks(copy, storage);
    return copy;
  } catch {
    return def;
  }
}
