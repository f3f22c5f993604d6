/** libvirt's storage numbers (include/libvirt/libvirt-storage.h), by their names without the prefix. */

/** virStoragePoolState. */
export const VIR_STORAGE_POOL_STATE = {
  INACTIVE: 0,
  BUILDING: 1,
  RUNNING: 2,
  DEGRADED: 3,
  INACCESSIBLE: 4,
} as const;

/** virStorageVolType. */
export const VIR_STORAGE_VOL_TYPE = {
  FILE: 0,
  BLOCK: 1,
  DIR: 2,
  NETWORK: 3,
  NETDIR: 4,
  PLOOP: 5,
} as const;

/** virConnectListAllStoragePoolsFlags. */
export const VIR_CONNECT_LIST_STORAGE_POOLS = {
  INACTIVE: 1 << 0,
  ACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  AUTOSTART: 1 << 4,
  NO_AUTOSTART: 1 << 5,
  DIR: 1 << 6,
  FS: 1 << 7,
  NETFS: 1 << 8,
  LOGICAL: 1 << 9,
  DISK: 1 << 10,
  ISCSI: 1 << 11,
  SCSI: 1 << 12,
  MPATH: 1 << 13,
  RBD: 1 << 14,
  SHEEPDOG: 1 << 15,
  GLUSTER: 1 << 16,
  ZFS: 1 << 17,
  VSTORAGE: 1 << 18,
  ISCSI_DIRECT: 1 << 19,
} as const;

/** virStoragePoolBuildFlags. */
export const VIR_STORAGE_POOL_BUILD = {
  NEW: 0,
  REPAIR: 1,
  RESIZE: 2,
  NO_OVERWRITE: 4,
  OVERWRITE: 8,
} as const;
/** virStoragePoolCreateFlags. */
export const VIR_STORAGE_POOL_CREATE = {
  NORMAL: 0,
  WITH_BUILD: 1,
  WITH_BUILD_OVERWRITE: 2,
  WITH_BUILD_NO_OVERWRITE: 4,
} as const;
/** virStoragePoolDeleteFlags. */
export const VIR_STORAGE_POOL_DELETE = { NORMAL: 0, ZEROED: 1 } as const;
/** virStoragePoolDefineFlags. */
export const VIR_STORAGE_POOL_DEFINE_VALIDATE = 1;
/** virStorageXMLFlags. */
export const VIR_STORAGE_XML_INACTIVE = 1;
/** virStorageVolCreateFlags. */
export const VIR_STORAGE_VOL_CREATE = { PREALLOC_METADATA: 1, REFLINK: 2, VALIDATE: 4 } as const;
/** virStorageVolDeleteFlags. */
export const VIR_STORAGE_VOL_DELETE = { NORMAL: 0, ZEROED: 1, WITH_SNAPSHOTS: 2 } as const;
/** virStorageVolWipeAlgorithm. */
export const VIR_STORAGE_VOL_WIPE_ALG = {
  ZERO: 0,
  NNSA: 1,
  DOD: 2,
  BSI: 3,
  GUTMANN: 4,
  SCHNEIER: 5,
  PFITZNER7: 6,
  PFITZNER33: 7,
  RANDOM: 8,
  TRIM: 9,
} as const;
/** virStorageVolResizeFlags. */
export const VIR_STORAGE_VOL_RESIZE = { ALLOCATE: 1, DELTA: 2, SHRINK: 4 } as const;
/** virStorageVolInfoFlags. */
export const VIR_STORAGE_VOL_GET_PHYSICAL = 1;
/** virStorageVolUploadFlags / virStorageVolDownloadFlags. */
export const VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM = 1;
export const VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM = 1;
/** virStoragePoolEventID. */
export const VIR_STORAGE_POOL_EVENT_ID = { LIFECYCLE: 0, REFRESH: 1 } as const;
export const VIR_STORAGE_POOL_EVENT_ID_LAST = 2;
/** virStoragePoolEventLifecycleType. */
export const VIR_STORAGE_POOL_EVENT = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  STOPPED: 3,
  CREATED: 4,
  DELETED: 5,
} as const;
