/**
 * The storage contract's rows (StorageDriver, libvirt's virStorageDriver): for each method, the
 * REMOTE procedure that carries it. Everything else is derived (dispatch-table.ts); the stream
 * APIs (upload, download) are ordinary rows, their `@readstream`/`@writestream` annotation makes
 * the dispatch layer carry the VirStream.
 */
import type { StorageDriver, StoragePool, StorageVol } from '@qvirt/core/hypervisor';
import { type ContractTable, row } from './rows.js';

export const STORAGE_TABLE: ContractTable<StorageDriver> = {
  connectNumOfStoragePools: row('CONNECT_NUM_OF_STORAGE_POOLS'),
  connectListStoragePools: row('CONNECT_LIST_STORAGE_POOLS'),
  connectNumOfDefinedStoragePools: row('CONNECT_NUM_OF_DEFINED_STORAGE_POOLS'),
  connectListDefinedStoragePools: row('CONNECT_LIST_DEFINED_STORAGE_POOLS'),
  // virConnectListAllStoragePools(conn, &pools, flags): the wire asks whether the list is wanted
  connectListAllStoragePools: row('CONNECT_LIST_ALL_STORAGE_POOLS', {
    toArgs: (flags) => ({ need_results: 1, flags }),
    fromRet: (r) => r.pools as StoragePool[],
    serve: async (d, a) => {
      const pools = await d.connectListAllStoragePools(a.flags as number);
      return { pools: a.need_results ? pools : [], ret: pools.length };
    },
  }),
  connectFindStoragePoolSources: row('CONNECT_FIND_STORAGE_POOL_SOURCES'),
  connectGetStoragePoolCapabilities: row('CONNECT_GET_STORAGE_POOL_CAPABILITIES'),
  storagePoolCreateXML: row('STORAGE_POOL_CREATE_XML'),
  storagePoolDefineXML: row('STORAGE_POOL_DEFINE_XML'),
  storagePoolCreate: row('STORAGE_POOL_CREATE'),
  storagePoolBuild: row('STORAGE_POOL_BUILD'),
  storagePoolDestroy: row('STORAGE_POOL_DESTROY'),
  storagePoolDelete: row('STORAGE_POOL_DELETE'),
  storagePoolUndefine: row('STORAGE_POOL_UNDEFINE'),
  storagePoolRefresh: row('STORAGE_POOL_REFRESH'),
  storagePoolLookupByName: row('STORAGE_POOL_LOOKUP_BY_NAME'),
  storagePoolLookupByUUID: row('STORAGE_POOL_LOOKUP_BY_UUID'),
  storagePoolLookupByVolume: row('STORAGE_POOL_LOOKUP_BY_VOLUME'),
  storagePoolLookupByTargetPath: row('STORAGE_POOL_LOOKUP_BY_TARGET_PATH'),
  storagePoolGetInfo: row('STORAGE_POOL_GET_INFO'),
  storagePoolGetXMLDesc: row('STORAGE_POOL_GET_XML_DESC'),
  storagePoolGetAutostart: row('STORAGE_POOL_GET_AUTOSTART'),
  storagePoolSetAutostart: row('STORAGE_POOL_SET_AUTOSTART'),
  storagePoolNumOfVolumes: row('STORAGE_POOL_NUM_OF_VOLUMES'),
  storagePoolListVolumes: row('STORAGE_POOL_LIST_VOLUMES'),
  // virStoragePoolListAllVolumes(pool, &vols, flags)
  storagePoolListAllVolumes: row('STORAGE_POOL_LIST_ALL_VOLUMES', {
    toArgs: (pool, flags) => ({ pool, need_results: 1, flags }),
    fromRet: (r) => r.vols as StorageVol[],
    serve: async (d, a) => {
      const vols = await d.storagePoolListAllVolumes(a.pool as StoragePool, a.flags as number);
      return { vols: a.need_results ? vols : [], ret: vols.length };
    },
  }),
  storagePoolIsActive: row('STORAGE_POOL_IS_ACTIVE'),
  storagePoolIsPersistent: row('STORAGE_POOL_IS_PERSISTENT'),
  storageVolCreateXML: row('STORAGE_VOL_CREATE_XML'),
  storageVolCreateXMLFrom: row('STORAGE_VOL_CREATE_XML_FROM'),
  storageVolDelete: row('STORAGE_VOL_DELETE'),
  storageVolLookupByName: row('STORAGE_VOL_LOOKUP_BY_NAME'),
  storageVolLookupByKey: row('STORAGE_VOL_LOOKUP_BY_KEY'),
  storageVolLookupByPath: row('STORAGE_VOL_LOOKUP_BY_PATH'),
  storageVolGetInfo: row('STORAGE_VOL_GET_INFO'),
  storageVolGetInfoFlags: row('STORAGE_VOL_GET_INFO_FLAGS'),
  storageVolGetXMLDesc: row('STORAGE_VOL_GET_XML_DESC'),
  storageVolGetPath: row('STORAGE_VOL_GET_PATH'),
  storageVolWipe: row('STORAGE_VOL_WIPE'),
  storageVolWipePattern: row('STORAGE_VOL_WIPE_PATTERN'),
  storageVolResize: row('STORAGE_VOL_RESIZE'),
  storageVolUpload: row('STORAGE_VOL_UPLOAD'),
  storageVolDownload: row('STORAGE_VOL_DOWNLOAD'),
};
