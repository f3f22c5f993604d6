import { STORAGE_FORMATS } from '@qvirt/core';
/**
 * libvirt's storage pool type table (virStoragePoolTypeInfo in storage_conf.c) as data: per pool
 * type, which <source> parts it has, its source formats and default, and its volumes' formats.
 */

/** virStoragePoolType names, in libvirt's order. */
export const POOL_TYPES = [
  'dir',
  'fs',
  'netfs',
  'logical',
  'disk',
  'iscsi',
  'iscsi-direct',
  'scsi',
  'mpath',
  'rbd',
  'sheepdog',
  'gluster',
  'zfs',
  'vstorage',
] as const;
export type PoolType = (typeof POOL_TYPES)[number];

/** virStorageFileFormat names usable for file volumes (index = libvirt's number). */
export const FILE_FORMATS = ['none', ...STORAGE_FORMATS] as const;

const FS_FORMATS = [
  'auto',
  'ext2',
  'ext3',
  'ext4',
  'ufs',
  'iso9660',
  'udf',
  'gfs',
  'gfs2',
  'vfat',
  'hfs+',
  'xfs',
  'ocfs2',
  'vmfs',
];
const NETFS_FORMATS = ['auto', 'nfs', 'glusterfs', 'cifs'];
const LOGICAL_FORMATS = ['unknown', 'lvm2'];
const DISK_FORMATS = ['unknown', 'dos', 'dvh', 'gpt', 'mac', 'bsd', 'pc98', 'sun', 'lvm2'];
const PART_FORMATS = ['none', 'linux', 'fat16', 'fat32', 'linux-swap', 'linux-lvm', 'linux-raid', 'extended'];

export interface PoolTypeInfo {
  /** <source> parts (VIR_STORAGE_POOL_SOURCE_*). */
  host?: boolean;
  device?: boolean;
  dir?: boolean;
  name?: boolean;
  /** Source formats and the default. */
  sourceFormats?: readonly string[];
  defaultSourceFormat?: string;
  /** Volume formats and the default (absent: volumes have no <format>). */
  volFormats?: readonly string[];
  defaultVolFormat?: string;
  /** qvirt has a backend for it. */
  supported: boolean;
  /** libvirt 9.0 on Debian has the backend (what pool-capabilities says). */
  libvirtSupported: boolean;
}

export const POOL_TYPE_INFO: Record<PoolType, PoolTypeInfo> = {
  dir: { volFormats: FILE_FORMATS, defaultVolFormat: 'raw', supported: true, libvirtSupported: true },
  fs: {
    device: true,
    sourceFormats: FS_FORMATS,
    defaultSourceFormat: 'auto',
    volFormats: FILE_FORMATS,
    defaultVolFormat: 'raw',
    supported: true,
    libvirtSupported: true,
  },
  netfs: {
    host: true,
    dir: true,
    sourceFormats: NETFS_FORMATS,
    defaultSourceFormat: 'auto',
    volFormats: FILE_FORMATS,
    defaultVolFormat: 'raw',
    supported: true,
    libvirtSupported: true,
  },
  logical: {
    name: true,
    device: true,
    sourceFormats: LOGICAL_FORMATS,
    defaultSourceFormat: 'lvm2',
    supported: true,
    libvirtSupported: true,
  },
  disk: {
    device: true,
    sourceFormats: DISK_FORMATS,
    defaultSourceFormat: 'unknown',
    volFormats: PART_FORMATS,
    defaultVolFormat: 'none',
    supported: false,
    libvirtSupported: true,
  },
  iscsi: { host: true, device: true, supported: false, libvirtSupported: true },
  'iscsi-direct': { host: true, device: true, supported: false, libvirtSupported: false },
  scsi: { supported: false, libvirtSupported: true },
  mpath: { supported: false, libvirtSupported: true },
  rbd: {
    host: true,
    name: true,
    volFormats: [],
    defaultVolFormat: 'raw',
    supported: false,
    libvirtSupported: false,
  },
  sheepdog: { host: true, name: true, supported: false, libvirtSupported: false },
  gluster: {
    host: true,
    dir: true,
    name: true,
    volFormats: FILE_FORMATS,
    defaultVolFormat: 'raw',
    supported: false,
    libvirtSupported: false,
  },
  zfs: { name: true, device: true, supported: false, libvirtSupported: false },
  vstorage: {
    name: true,
    volFormats: FILE_FORMATS,
    defaultVolFormat: 'raw',
    supported: false,
    libvirtSupported: false,
  },
};
