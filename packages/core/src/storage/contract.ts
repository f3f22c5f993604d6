/**
 * The storage contract: libvirt's virStorageDriver (src/driver-storage.h), with the same rules as
 * the hypervisor contract (../hypervisor/contract.ts): libvirt's API names without `vir`,
 * parameters in the order of the remote_*_args struct, results the remote_*_ret struct's only
 * field or the struct, libvirt's numbers (./constants.ts). `@qvirt/storage` implements it in
 * process, the remote client over the wire.
 *
 * Streams: virStorageVolUpload and virStorageVolDownload (procedures annotated `@writestream` /
 * `@readstream`) resolve with a {@link VirStream} once the transfer is set up; data then flows
 * through it (`send`/`finish` to upload, `recv` until null to download). The dispatch layer
 * turns any such API into the remote protocol's stream packets, so in process and remote callers
 * see the same object.
 *
 * Events: `connectStoragePoolEventRegisterAny(pool, eventID, callback)` as the domain events are
 * registered on the hypervisor contract; callbacks get a {@link StoragePoolEvent}.
 */
import type { VirStream } from './stream.js';

export * from './constants.js';
export * from './stream.js';

/** virStoragePoolPtr as it travels (remote_nonnull_storage_pool). */
export interface StoragePool {
  name: string;
  uuid: string;
}

/** virStorageVolPtr as it travels (remote_nonnull_storage_vol). */
export interface StorageVol {
  pool: string;
  name: string;
  key: string;
}

/** A storage pool event: lifecycle (event/detail) or refresh (VIR_STORAGE_POOL_EVENT_ID_*). */
export interface StoragePoolEvent {
  eventID: number;
  pool: StoragePool;
  event?: number;
  detail?: number;
}
export type StoragePoolEventCallback = (event: StoragePoolEvent) => void;

export interface StoragePoolInfo {
  state: number;
  capacity: number;
  allocation: number;
  available: number;
}

export interface StorageVolInfo {
  type: number;
  capacity: number;
  allocation: number;
}

export interface StorageDriver {
  connectNumOfStoragePools(): Promise<number>;
  connectListStoragePools(maxnames: number): Promise<string[]>;
  connectNumOfDefinedStoragePools(): Promise<number>;
  connectListDefinedStoragePools(maxnames: number): Promise<string[]>;
  /** virConnectListAllStoragePools(conn, &pools, flags): the wire asks whether the list is wanted. */
  connectListAllStoragePools(flags: number): Promise<StoragePool[]>;
  connectFindStoragePoolSources(type: string, srcSpec: string | null, flags: number): Promise<string>;
  connectGetStoragePoolCapabilities(flags: number): Promise<string>;
  storagePoolCreateXML(xml: string, flags: number): Promise<StoragePool>;
  storagePoolDefineXML(xml: string, flags: number): Promise<StoragePool>;
  storagePoolCreate(pool: StoragePool, flags: number): Promise<void>;
  storagePoolBuild(pool: StoragePool, flags: number): Promise<void>;
  storagePoolDestroy(pool: StoragePool): Promise<void>;
  storagePoolDelete(pool: StoragePool, flags: number): Promise<void>;
  storagePoolUndefine(pool: StoragePool): Promise<void>;
  storagePoolRefresh(pool: StoragePool, flags: number): Promise<void>;
  storagePoolLookupByName(name: string): Promise<StoragePool>;
  storagePoolLookupByUUID(uuid: string): Promise<StoragePool>;
  storagePoolLookupByVolume(vol: StorageVol): Promise<StoragePool>;
  storagePoolLookupByTargetPath(path: string): Promise<StoragePool>;
  storagePoolGetInfo(pool: StoragePool): Promise<StoragePoolInfo>;
  storagePoolGetXMLDesc(pool: StoragePool, flags: number): Promise<string>;
  storagePoolGetAutostart(pool: StoragePool): Promise<number>;
  storagePoolSetAutostart(pool: StoragePool, autostart: number): Promise<void>;
  storagePoolNumOfVolumes(pool: StoragePool): Promise<number>;
  storagePoolListVolumes(pool: StoragePool, maxnames: number): Promise<string[]>;
  /** virStoragePoolListAllVolumes(pool, &vols, flags). */
  storagePoolListAllVolumes(pool: StoragePool, flags: number): Promise<StorageVol[]>;
  storagePoolIsActive(pool: StoragePool): Promise<number>;
  storagePoolIsPersistent(pool: StoragePool): Promise<number>;
  storageVolCreateXML(pool: StoragePool, xml: string, flags: number): Promise<StorageVol>;
  storageVolCreateXMLFrom(
    pool: StoragePool,
    xml: string,
    clonevol: StorageVol,
    flags: number,
  ): Promise<StorageVol>;
  storageVolDelete(vol: StorageVol, flags: number): Promise<void>;
  storageVolLookupByName(pool: StoragePool, name: string): Promise<StorageVol>;
  storageVolLookupByKey(key: string): Promise<StorageVol>;
  storageVolLookupByPath(path: string): Promise<StorageVol>;
  storageVolGetInfo(vol: StorageVol): Promise<StorageVolInfo>;
  storageVolGetInfoFlags(vol: StorageVol, flags: number): Promise<StorageVolInfo>;
  storageVolGetXMLDesc(vol: StorageVol, flags: number): Promise<string>;
  storageVolGetPath(vol: StorageVol): Promise<string>;
  storageVolWipe(vol: StorageVol, flags: number): Promise<void>;
  storageVolWipePattern(vol: StorageVol, algorithm: number, flags: number): Promise<void>;
  storageVolResize(vol: StorageVol, capacity: number, flags: number): Promise<void>;
  /** `@writestream`: the caller sends the volume's new bytes from `offset` (0 length: to the end). */
  storageVolUpload(vol: StorageVol, offset: number, length: number, flags: number): Promise<VirStream>;
  /** `@readstream`: the caller reads the volume's bytes from `offset` (0 length: to the end). */
  storageVolDownload(vol: StorageVol, offset: number, length: number, flags: number): Promise<VirStream>;
  connectStoragePoolEventRegisterAny(
    pool: StoragePool | null,
    eventID: number,
    callback: StoragePoolEventCallback,
  ): Promise<number>;
  connectStoragePoolEventDeregisterAny(callbackID: number): Promise<void>;
}
