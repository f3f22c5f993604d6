/**
 * One storage backend per pool type (libvirt's virStorageBackend): what building, starting,
 * refreshing and stopping a pool mean, and how its volumes are made. The driver (../driver.ts)
 * does the bookkeeping, names, checks and events around these.
 */
import type { Perms, PoolDef } from '../pool-xml.js';
import type { VolDef } from '../vol-xml.js';

export interface RefreshResult {
  capacity: number;
  allocation: number;
  available: number;
  vols: VolDef[];
  /** The target's permissions as found (shown in the live XML). */
  targetPerms?: Perms;
}

export interface Backend {
  /** virStoragePoolBuild (flags: VIR_STORAGE_POOL_BUILD_*). */
  build?(def: PoolDef, flags: number): Promise<void>;
  /** Whether the pool is already running (a daemon restart finds it so). */
  checkActive?(def: PoolDef): Promise<boolean>;
  start?(def: PoolDef): Promise<void>;
  refresh(def: PoolDef): Promise<RefreshResult>;
  stop?(def: PoolDef): Promise<void>;
  delete?(def: PoolDef, flags: number): Promise<void>;
  /** Fills in the new volume's path, key and type, refusing names that leave the pool. */
  prepareVol(def: PoolDef, vol: VolDef): Promise<void>;
  createVol(def: PoolDef, vol: VolDef, flags: number): Promise<void>;
  /** vol-create-from; absent when the backend cannot (libvirt's NO_SUPPORT). */
  createVolFrom?(def: PoolDef, vol: VolDef, input: VolDef, flags: number): Promise<void>;
  deleteVol(def: PoolDef, vol: VolDef, flags: number): Promise<void>;
  resizeVol?(def: PoolDef, vol: VolDef, capacity: number, flags: number): Promise<void>;
  wipeVol(def: PoolDef, vol: VolDef, algorithm: number, flags: number): Promise<void>;
  /** virConnectFindStoragePoolSources: the <sources> document. */
  findSources?(srcSpec: string | null): Promise<string>;
}
