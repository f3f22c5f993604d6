export { poolCapabilitiesXml } from './capabilities.js';
export { QvirtStorageDriver, type StorageDriverOptions } from './driver.js';
export { openDownloadStream, openUploadStream } from './file-stream.js';
export { POOL_TYPE_INFO, POOL_TYPES, type PoolType } from './formats.js';
export { formatPoolXml, type PoolDef, parsePoolXml } from './pool-xml.js';
export { embedStorageDirs, type StorageDirs, storageDirsFor } from './state.js';
export { formatVolXml, parseVolXml, type VolDef } from './vol-xml.js';

import { QvirtStorageDriver, type StorageDriverOptions } from './driver.js';
import { storageDirsFor } from './state.js';

/** The storage driver of the instance whose QEMU layout is `layout` (qvirtd's and qvirsh's way in). */
export function openStorageDriver(
  layout: { configDir: string; runDir: string },
  opts: Omit<StorageDriverOptions, 'configDir' | 'runDir'> = {},
): Promise<QvirtStorageDriver> {
  return QvirtStorageDriver.open({ ...storageDirsFor(layout), ...opts });
}
