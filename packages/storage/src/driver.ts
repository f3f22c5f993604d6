/**
 * The storage driver of one qvirt instance (libvirt's storage_driver.c): pools and their volumes,
 * kept in memory from the instance's `storage/` definitions and run state (./state.ts), each pool
 * type's work done by its backend (./backends/). Implements @qvirt/core's StorageDriver, so
 * qvirtd serves it and qvirsh uses it in process the same way.
 */
import { realpath } from 'node:fs/promises';
import { virCheckFlags, virReportError } from '@qvirt/core';
import {
  VIR_CONNECT_LIST_STORAGE_POOLS as LIST,
  type SecretValueSource,
  type StorageDriver,
  type StoragePool,
  type StoragePoolEvent,
  type StoragePoolEventCallback,
  type StoragePoolInfo,
  type StorageVol,
  type StorageVolInfo,
  VIR_STORAGE_POOL_BUILD,
  VIR_STORAGE_POOL_CREATE,
  VIR_STORAGE_POOL_EVENT,
  VIR_STORAGE_POOL_EVENT_ID,
  VIR_STORAGE_POOL_EVENT_ID_LAST,
  VIR_STORAGE_POOL_STATE,
  VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM,
  VIR_STORAGE_VOL_RESIZE,
  VIR_STORAGE_VOL_TYPE,
  VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM,
  VIR_STORAGE_VOL_WIPE_ALG,
  VIR_STORAGE_XML_INACTIVE,
  type VirStream,
} from '@qvirt/core/hypervisor';
import type { Backend } from './backends/backend.js';
import { dirBackend, fsBackend, netfsBackend } from './backends/fs.js';
import { logicalBackend } from './backends/logical.js';
import { poolCapabilitiesXml } from './capabilities.js';
import { openDownloadStream, openUploadStream } from './file-stream.js';
import { POOL_TYPES, type PoolType } from './formats.js';
import { formatPoolXml, type PoolDef, parsePoolXml } from './pool-xml.js';
import { type StorageDirs, StorageState } from './state.js';
import { formatVolXml, parseVolXml, type VolDef } from './vol-xml.js';

const BACKENDS: Partial<Record<PoolType, Backend>> = {
  dir: dirBackend,
  fs: fsBackend,
  netfs: netfsBackend,
  logical: logicalBackend,
};

interface PoolObj {
  /** The persistent definition (undefined for a transient pool). */
  config?: PoolDef;
  /** The running definition (with sizes and target permissions), or the config when inactive. */
  def: PoolDef;
  active: boolean;
  autostart: boolean;
  vols: VolDef[];
  /** Volumes being built, uploaded or downloaded (libvirt's asyncjobs / in_use). */
  busy: Map<string, number>;
}

const clone = <T>(v: T): T => structuredClone(v);
const invalid = (msg: string) => virReportError('OPERATION_INVALID', 'storage', msg);

export interface StorageDriverOptions extends StorageDirs {
  /** Start autostart pools on open (qvirtd does; a test may not). Default true. */
  autostart?: boolean;
  /**
   * The instance's secret driver, asked for the passphrase of a volume created with
   * `<encryption format='luks'>` (libvirt's storage driver asks virSecretGetValue).
   */
  secrets?: () => Promise<SecretValueSource>;
}

/** VIR_SECRET_USAGE_TYPE_VOLUME. */
const SECRET_USAGE_VOLUME = 1;

export class QvirtStorageDriver implements StorageDriver {
  private readonly pools = new Map<string, PoolObj>();
  private readonly state: StorageState;
  private readonly callbacks = new Map<
    number,
    { pool: string | null; eventID: number; cb: StoragePoolEventCallback }
  >();
  private nextCallback = 1;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    dirs: StorageDirs,
    private readonly secrets?: () => Promise<SecretValueSource>,
  ) {
    this.state = new StorageState(dirs);
  }

  /** Opens an instance's storage: its definitions, the pools still running, then autostart. */
  static async open(opts: StorageDriverOptions): Promise<QvirtStorageDriver> {
    const d = new QvirtStorageDriver(opts, opts.secrets);
    for (const def of d.state.loadConfigs()) {
      d.pools.set(def.name, {
        config: def,
        def: clone(def),
        active: false,
        autostart: d.state.autostart(def.name),
        vols: [],
        busy: new Map(),
      });
    }
    // storagePoolUpdateState: a pool recorded as running and still so stays running
    for (const live of d.state.loadStatus()) {
      const obj = d.pools.get(live.name) ?? {
        def: live,
        active: false,
        autostart: false,
        vols: [],
        busy: new Map(),
      };
      const backend = BACKENDS[live.type];
      const running = backend?.checkActive ? await backend.checkActive(live).catch(() => false) : true;
      if (running) {
        obj.def = live;
        obj.active = true;
        d.pools.set(live.name, obj);
        await d.refreshObj(obj).catch(() => d.deactivate(obj));
      } else await d.state.removeStatus(live.name);
    }
    // virDriverShouldAutostart: once per boot of the host (a marker in the run directory)
    if (opts.autostart !== false && (await d.state.firstOpenThisBoot())) {
      for (const obj of d.pools.values()) {
        if (obj.autostart && !obj.active) await d.startObj(obj, 0).catch(() => {});
      }
    }
    return d;
  }

  /** Runs changes one at a time (libvirt holds the pool object's lock). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  // ---- events ------------------------------------------------------------------------------

  private emit(obj: PoolObj, eventID: number, event?: number, detail = 0): void {
    const e: StoragePoolEvent = {
      eventID,
      pool: this.ref(obj),
      ...(event === undefined ? {} : { event, detail }),
    };
    for (const c of this.callbacks.values()) {
      if (c.eventID !== eventID || (c.pool && c.pool !== obj.def.uuid)) continue;
      try {
        c.cb(e);
      } catch {
        // a callback's failure is its own
      }
    }
  }

  async connectStoragePoolEventRegisterAny(
    pool: StoragePool | null,
    eventID: number,
    callback: StoragePoolEventCallback,
  ): Promise<number> {
    if (eventID < 0 || eventID >= VIR_STORAGE_POOL_EVENT_ID_LAST) {
      throw virReportError('INVALID_ARG', 'storage', `unsupported event ID ${eventID}`);
    }
    const id = this.nextCallback++;
    this.callbacks.set(id, { pool: pool?.uuid ?? null, eventID, cb: callback });
    return id;
  }

  async connectStoragePoolEventDeregisterAny(callbackID: number): Promise<void> {
    if (!this.callbacks.delete(callbackID)) {
      throw virReportError(
        'INVALID_ARG',
        'storage',
        `could not find event callback ${callbackID} for deletion`,
      );
    }
  }

  // ---- lookups -----------------------------------------------------------------------------

  private ref(obj: PoolObj): StoragePool {
    return { name: obj.def.name, uuid: obj.def.uuid };
  }

  /** storagePoolObjFindByUUID / ByName for a pool handle. */
  private obj(pool: StoragePool): PoolObj {
    for (const o of this.pools.values()) if (o.def.uuid === pool.uuid) return o;
    throw virReportError(
      'NO_STORAGE_POOL',
      'storage',
      `no storage pool with matching uuid '${pool.uuid}' (${pool.name})`,
    );
  }

  private activeObj(pool: StoragePool): PoolObj {
    const o = this.obj(pool);
    if (!o.active) throw invalid(`storage pool '${o.def.name}' is not active`);
    return o;
  }

  private backend(def: PoolDef): Backend {
    const b = BACKENDS[def.type];
    if (!b) {
      throw virReportError('NO_SUPPORT', 'storage', `no storage backend for pool type '${def.type}'`);
    }
    return b;
  }

  private volRef(obj: PoolObj, v: VolDef): StorageVol {
    return { pool: obj.def.name, name: v.name, key: v.key ?? v.target.path ?? v.name };
  }

  /** The volume a handle names, in an active pool. */
  private volObj(vol: StorageVol): { obj: PoolObj; v: VolDef } {
    const obj = this.pools.get(vol.pool);
    if (!obj) {
      throw virReportError('NO_STORAGE_POOL', 'storage', `no storage pool with matching name '${vol.pool}'`);
    }
    if (!obj.active) throw invalid(`storage pool '${obj.def.name}' is not active`);
    const v = obj.vols.find((x) => x.name === vol.name);
    if (!v)
      throw virReportError('NO_STORAGE_VOL', 'storage', `no storage vol with matching name '${vol.name}'`);
    return { obj, v };
  }

  async storagePoolLookupByName(name: string): Promise<StoragePool> {
    const o = this.pools.get(name);
    if (!o)
      throw virReportError('NO_STORAGE_POOL', 'storage', `no storage pool with matching name '${name}'`);
    return this.ref(o);
  }

  async storagePoolLookupByUUID(uuid: string): Promise<StoragePool> {
    const u = uuid.toLowerCase();
    for (const o of this.pools.values()) if (o.def.uuid === u) return this.ref(o);
    throw virReportError('NO_STORAGE_POOL', 'storage', `no storage pool with matching uuid '${uuid}'`);
  }

  async storagePoolLookupByVolume(vol: StorageVol): Promise<StoragePool> {
    const o = this.pools.get(vol.pool);
    if (!o)
      throw virReportError('NO_STORAGE_POOL', 'storage', `no storage pool with matching name '${vol.pool}'`);
    return this.ref(o);
  }

  async storagePoolLookupByTargetPath(p: string): Promise<StoragePool> {
    const clean = p.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
    for (const o of this.pools.values()) if (o.active && o.def.target.path === clean) return this.ref(o);
    throw virReportError('NO_STORAGE_POOL', 'storage', `no storage pool with matching target path '${p}'`);
  }

  async storageVolLookupByName(pool: StoragePool, name: string): Promise<StorageVol> {
    const o = this.activeObj(pool);
    const v = o.vols.find((x) => x.name === name);
    if (!v) throw virReportError('NO_STORAGE_VOL', 'storage', `no storage vol with matching name '${name}'`);
    return this.volRef(o, v);
  }

  async storageVolLookupByKey(key: string): Promise<StorageVol> {
    for (const o of this.pools.values()) {
      if (!o.active) continue;
      const v = o.vols.find((x) => x.key === key);
      if (v) return this.volRef(o, v);
    }
    throw virReportError('NO_STORAGE_VOL', 'storage', `no storage vol with matching key ${key}`);
  }

  async storageVolLookupByPath(p: string): Promise<StorageVol> {
    const clean = await realpath(p).catch(() => p);
    for (const o of this.pools.values()) {
      if (!o.active) continue;
      const v = o.vols.find((x) => x.target.path === p || x.target.path === clean);
      if (v) return this.volRef(o, v);
    }
    throw virReportError('NO_STORAGE_VOL', 'storage', `no storage vol with matching path '${p}'`);
  }

  // ---- listing -----------------------------------------------------------------------------

  async connectNumOfStoragePools(): Promise<number> {
    return [...this.pools.values()].filter((o) => o.active).length;
  }
  async connectListStoragePools(maxnames: number): Promise<string[]> {
    return [...this.pools.values()]
      .filter((o) => o.active)
      .map((o) => o.def.name)
      .slice(0, maxnames);
  }
  async connectNumOfDefinedStoragePools(): Promise<number> {
    return [...this.pools.values()].filter((o) => !o.active).length;
  }
  async connectListDefinedStoragePools(maxnames: number): Promise<string[]> {
    return [...this.pools.values()]
      .filter((o) => !o.active)
      .map((o) => o.def.name)
      .slice(0, maxnames);
  }

  /** virStoragePoolObjMatch: each flag group filters only when one of its flags is given. */
  async connectListAllStoragePools(flags: number): Promise<StoragePool[]> {
    const group = (on: number, off: number, v: boolean) => {
      if (!(flags & (on | off))) return true;
      return (flags & on && v) || (flags & off && !v);
    };
    const typeMask =
      flags &
      ~(LIST.INACTIVE | LIST.ACTIVE | LIST.PERSISTENT | LIST.TRANSIENT | LIST.AUTOSTART | LIST.NO_AUTOSTART);
    return [...this.pools.values()]
      .filter(
        (o) =>
          group(LIST.ACTIVE, LIST.INACTIVE, o.active) &&
          group(LIST.PERSISTENT, LIST.TRANSIENT, !!o.config) &&
          group(LIST.AUTOSTART, LIST.NO_AUTOSTART, o.autostart) &&
          (!typeMask || (typeMask & (LIST.DIR << POOL_TYPES.indexOf(o.def.type))) !== 0),
      )
      .map((o) => this.ref(o));
  }

  async storagePoolNumOfVolumes(pool: StoragePool): Promise<number> {
    return this.activeObj(pool).vols.length;
  }
  async storagePoolListVolumes(pool: StoragePool, maxnames: number): Promise<string[]> {
    return this.activeObj(pool)
      .vols.map((v) => v.name)
      .slice(0, maxnames);
  }
  async storagePoolListAllVolumes(pool: StoragePool, flags: number): Promise<StorageVol[]> {
    virCheckFlags(flags, 0, 'storagePoolListAllVolumes', 'storage');
    const o = this.activeObj(pool);
    return o.vols.map((v) => this.volRef(o, v));
  }

  async connectFindStoragePoolSources(type: string, srcSpec: string | null, flags: number): Promise<string> {
    virCheckFlags(flags, 0, 'storageConnectFindStoragePoolSources', 'storage');
    if (!(POOL_TYPES as readonly string[]).includes(type)) {
      throw virReportError('INTERNAL_ERROR', 'storage', `internal error: unknown storage pool type ${type}`);
    }
    const b = BACKENDS[type as PoolType];
    if (!b?.findSources) {
      throw virReportError('NO_SUPPORT', 'storage', `pool type '${type}' does not support source discovery`);
    }
    return b.findSources(srcSpec);
  }

  async connectGetStoragePoolCapabilities(flags: number): Promise<string> {
    virCheckFlags(flags, 0, 'storageConnectGetStoragePoolCapabilities', 'storage');
    return poolCapabilitiesXml((t) => !!BACKENDS[t]);
  }

  // ---- pool lifecycle ----------------------------------------------------------------------

  /** virStoragePoolObjIsDuplicate and virStoragePoolObjSourceFindDuplicate. */
  private checkDuplicate(def: PoolDef, checkActive: boolean): PoolObj | undefined {
    for (const o of this.pools.values()) {
      if (o.def.uuid === def.uuid) {
        if (o.def.name !== def.name) {
          throw virReportError(
            'OPERATION_FAILED',
            'storage',
            `pool '${o.def.name}' is already defined with uuid ${def.uuid}`,
          );
        }
        if (checkActive && o.active) throw invalid(`storage pool '${def.name}' is already active`);
        return o;
      }
      if (o.def.name === def.name) {
        throw virReportError(
          'OPERATION_FAILED',
          'storage',
          `pool '${def.name}' already exists with uuid ${o.def.uuid}`,
        );
      }
    }
    for (const o of this.pools.values()) {
      if (o.def.type !== def.type || o.def.name === def.name) continue;
      const same =
        def.type === 'dir'
          ? o.def.target.path === def.target.path
          : def.type === 'fs'
            ? o.def.source.devices[0]?.path === def.source.devices[0]?.path
            : def.type === 'netfs'
              ? o.def.source.hosts[0]?.name === def.source.hosts[0]?.name &&
                o.def.source.dir === def.source.dir
              : def.type === 'logical'
                ? o.def.source.name === def.source.name
                : false;
      if (same)
        throw virReportError(
          'OPERATION_FAILED',
          'storage',
          `Storage source conflict with pool: '${o.def.name}'`,
        );
    }
    return undefined;
  }

  async storagePoolDefineXML(xml: string, flags: number): Promise<StoragePool> {
    return this.serial(async () => {
      virCheckFlags(flags, 1, 'storagePoolDefineXML', 'storage');
      const def = parsePoolXml(xml);
      this.backend(def);
      const existing = this.checkDuplicate(def, false);
      await this.state.saveConfig(def);
      if (existing) {
        existing.config = def;
        if (!existing.active) existing.def = clone(def);
      } else {
        this.pools.set(def.name, {
          config: def,
          def: clone(def),
          active: false,
          autostart: false,
          vols: [],
          busy: new Map(),
        });
      }
      const obj = this.pools.get(def.name)!;
      this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.DEFINED);
      return this.ref(obj);
    });
  }

  async storagePoolCreateXML(xml: string, flags: number): Promise<StoragePool> {
    return this.serial(async () => {
      const def = parsePoolXml(xml);
      this.backend(def);
      if (this.checkDuplicate(def, true)) throw invalid(`storage pool '${def.name}' is already active`);
      const obj: PoolObj = { def, active: false, autostart: false, vols: [], busy: new Map() };
      this.pools.set(def.name, obj);
      try {
        await this.startObj(obj, flags);
      } catch (err) {
        this.pools.delete(def.name);
        throw err;
      }
      return this.ref(obj);
    });
  }

  /** storagePoolCreate's work: build when asked, start, refresh, record the run state. */
  private async startObj(obj: PoolObj, flags: number): Promise<void> {
    const { WITH_BUILD, WITH_BUILD_OVERWRITE, WITH_BUILD_NO_OVERWRITE } = VIR_STORAGE_POOL_CREATE;
    if (flags & WITH_BUILD_OVERWRITE && flags & WITH_BUILD_NO_OVERWRITE) {
      throw invalid('Overwrite and no overwrite flags are mutually exclusive');
    }
    const def = clone(obj.config ?? obj.def);
    const backend = this.backend(def);
    if (flags & (WITH_BUILD | WITH_BUILD_OVERWRITE | WITH_BUILD_NO_OVERWRITE)) {
      const bflags =
        flags & WITH_BUILD_OVERWRITE
          ? VIR_STORAGE_POOL_BUILD.OVERWRITE
          : flags & WITH_BUILD_NO_OVERWRITE
            ? VIR_STORAGE_POOL_BUILD.NO_OVERWRITE
            : 0;
      await backend.build?.(def, bflags);
    }
    await backend.start?.(def);
    obj.def = def;
    obj.active = true;
    try {
      await this.refreshObj(obj);
    } catch (err) {
      await backend.stop?.(def).catch(() => {});
      this.deactivate(obj);
      throw err;
    }
    this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.STARTED);
  }

  private deactivate(obj: PoolObj): void {
    obj.active = false;
    obj.vols = [];
    obj.def = clone(obj.config ?? obj.def);
    obj.def.capacity = obj.def.allocation = obj.def.available = 0;
  }

  private async refreshObj(obj: PoolObj): Promise<void> {
    const r = await this.backend(obj.def).refresh(obj.def);
    obj.def.capacity = r.capacity;
    obj.def.allocation = r.allocation;
    obj.def.available = r.available;
    if (r.targetPerms) {
      obj.def.target.perms = {
        ...r.targetPerms,
        ...(obj.def.target.perms.label ? { label: obj.def.target.perms.label } : {}),
      };
    }
    obj.vols = r.vols;
    await this.state.saveStatus(obj.def);
  }

  async storagePoolCreate(pool: StoragePool, flags: number): Promise<void> {
    return this.serial(async () => {
      const obj = this.obj(pool);
      if (obj.active) throw invalid(`storage pool '${obj.def.name}' is already active`);
      await this.startObj(obj, flags);
    });
  }

  async storagePoolBuild(pool: StoragePool, flags: number): Promise<void> {
    return this.serial(async () => {
      const obj = this.obj(pool);
      if (obj.active) throw invalid(`storage pool '${obj.def.name}' is already active`);
      const b = this.backend(obj.def);
      if (b.build) await b.build(obj.config ?? obj.def, flags);
      this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.CREATED);
    });
  }

  async storagePoolDestroy(pool: StoragePool): Promise<void> {
    return this.serial(async () => {
      const obj = this.activeObj(pool);
      if ([...obj.busy.values()].some((n) => n > 0)) {
        throw invalid(`pool '${obj.def.name}' has asynchronous jobs running.`);
      }
      await this.backend(obj.def).stop?.(obj.def);
      await this.state.removeStatus(obj.def.name);
      this.deactivate(obj);
      this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.STOPPED);
      if (!obj.config) this.pools.delete(obj.def.name);
    });
  }

  async storagePoolDelete(pool: StoragePool, flags: number): Promise<void> {
    return this.serial(async () => {
      const obj = this.obj(pool);
      if (obj.active) throw invalid(`storage pool '${obj.def.name}' is still active`);
      const b = this.backend(obj.def);
      if (!b.delete) throw virReportError('NO_SUPPORT', 'storage', 'pool does not support pool deletion');
      await b.delete(obj.def, flags);
      this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.DELETED);
    });
  }

  async storagePoolUndefine(pool: StoragePool): Promise<void> {
    return this.serial(async () => {
      const obj = this.obj(pool);
      if (obj.active) throw invalid(`storage pool '${obj.def.name}' is still active`);
      if (!obj.config) throw invalid(`storage pool '${obj.def.name}' is not persistent`);
      await this.state.removeConfig(obj.def.name);
      this.pools.delete(obj.def.name);
      this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.UNDEFINED);
    });
  }

  async storagePoolRefresh(pool: StoragePool, flags: number): Promise<void> {
    return this.serial(async () => {
      virCheckFlags(flags, 0, 'storagePoolRefresh', 'storage');
      const obj = this.activeObj(pool);
      if ([...obj.busy.values()].some((n) => n > 0)) {
        throw invalid(`pool '${obj.def.name}' has asynchronous jobs running.`);
      }
      try {
        await this.refreshObj(obj);
      } catch (err) {
        // storagePoolRefresh: a pool that cannot be refreshed is stopped
        await this.backend(obj.def)
          .stop?.(obj.def)
          .catch(() => {});
        await this.state.removeStatus(obj.def.name);
        this.deactivate(obj);
        this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, VIR_STORAGE_POOL_EVENT.STOPPED);
        throw err;
      }
      this.emit(obj, VIR_STORAGE_POOL_EVENT_ID.REFRESH);
    });
  }

  async storagePoolGetInfo(pool: StoragePool): Promise<StoragePoolInfo> {
    const o = this.obj(pool);
    return {
      state: o.active ? VIR_STORAGE_POOL_STATE.RUNNING : VIR_STORAGE_POOL_STATE.INACTIVE,
      capacity: o.active ? o.def.capacity : 0,
      allocation: o.active ? o.def.allocation : 0,
      available: o.active ? o.def.available : 0,
    };
  }

  async storagePoolGetXMLDesc(pool: StoragePool, flags: number): Promise<string> {
    const o = this.obj(pool);
    if (flags & VIR_STORAGE_XML_INACTIVE && o.config)
      return formatPoolXml({ ...o.config, capacity: 0, allocation: 0, available: 0 });
    return formatPoolXml(o.def);
  }

  async storagePoolGetAutostart(pool: StoragePool): Promise<number> {
    return this.obj(pool).autostart ? 1 : 0;
  }

  async storagePoolSetAutostart(pool: StoragePool, autostart: number): Promise<void> {
    return this.serial(async () => {
      const o = this.obj(pool);
      if (!o.config) throw invalid('cannot set autostart for transient pool');
      await this.state.setAutostart(o.def.name, !!autostart);
      o.autostart = !!autostart;
    });
  }

  async storagePoolIsActive(pool: StoragePool): Promise<number> {
    return this.obj(pool).active ? 1 : 0;
  }

  async storagePoolIsPersistent(pool: StoragePool): Promise<number> {
    return this.obj(pool).config ? 1 : 0;
  }

  // ---- volumes -----------------------------------------------------------------------------

  private busyInc(obj: PoolObj, name: string, d: number): void {
    obj.busy.set(name, (obj.busy.get(name) ?? 0) + d);
    if (obj.busy.get(name)! <= 0) obj.busy.delete(name);
  }

  private checkIdle(obj: PoolObj, v: VolDef): void {
    if (obj.busy.get(v.name)) throw invalid(`volume '${v.name}' is still in use.`);
  }

  async storageVolCreateXML(pool: StoragePool, xml: string, flags: number): Promise<StorageVol> {
    return this.createVol(pool, xml, flags);
  }

  async storageVolCreateXMLFrom(
    pool: StoragePool,
    xml: string,
    clonevol: StorageVol,
    flags: number,
  ): Promise<StorageVol> {
    return this.createVol(pool, xml, flags, clonevol);
  }

  private async createVol(
    pool: StoragePool,
    xml: string,
    flags: number,
    from?: StorageVol,
  ): Promise<StorageVol> {
    return this.serial(async () => {
      const obj = this.activeObj(pool);
      const backend = this.backend(obj.def);
      const vol = parseVolXml(obj.def.type, xml, { optionalCapacity: !!from });
      let input: VolDef | undefined;
      if (from) {
        const src = this.volObj(from);
        input = src.v;
        this.checkIdle(src.obj, input);
        // storageVolCreateXMLFrom: capacity defaults to the source's, never below it
        if (!vol.hasCapacity || vol.capacity < input.capacity) vol.capacity = input.capacity;
        vol.hasCapacity = true;
        if (!vol.hasAllocation) vol.allocation = vol.capacity;
        if (!backend.createVolFrom) {
          throw virReportError(
            'NO_SUPPORT',
            'storage',
            'storage pool does not support volume creation from an existing volume',
          );
        }
      }
      if (obj.vols.some((v) => v.name === vol.name)) {
        throw virReportError('STORAGE_VOL_EXIST', 'storage', `'${vol.name}'`);
      }
      await backend.prepareVol(obj.def, vol);
      const secret = vol.target.encryption?.secrets[0];
      if (secret && !input) {
        if (!this.secrets) {
          throw virReportError(
            'NO_SUPPORT',
            'storage',
            'this function is not supported by the connection driver: virSecretGetValue',
          );
        }
        const lookup = secret.uuid ? { uuid: secret.uuid } : { usage: secret.usage ?? '' };
        vol.passphrase = await (await this.secrets()).secretGetValueForUse(lookup, SECRET_USAGE_VOLUME);
      }
      this.busyInc(obj, vol.name, 1);
      try {
        if (input) await backend.createVolFrom!(obj.def, vol, input, flags);
        else await backend.createVol(obj.def, vol, flags);
      } finally {
        this.busyInc(obj, vol.name, -1);
      }
      await this.refreshObj(obj).catch(() => {});
      const made = obj.vols.find((v) => v.name === vol.name) ?? vol;
      return this.volRef(obj, made);
    });
  }

  async storageVolDelete(vol: StorageVol, flags: number): Promise<void> {
    return this.serial(async () => {
      const { obj, v } = this.volObj(vol);
      this.checkIdle(obj, v);
      await this.backend(obj.def).deleteVol(obj.def, v, flags);
      obj.vols = obj.vols.filter((x) => x !== v);
      await this.refreshObj(obj).catch(() => {});
    });
  }

  async storageVolGetInfo(vol: StorageVol): Promise<StorageVolInfo> {
    return this.storageVolGetInfoFlags(vol, 0);
  }

  async storageVolGetInfoFlags(vol: StorageVol, flags: number): Promise<StorageVolInfo> {
    const { v } = this.volObj(vol);
    const type =
      { file: 0, block: 1, dir: 2, network: 3, netdir: 4, ploop: 5 }[v.type] ?? VIR_STORAGE_VOL_TYPE.FILE;
    // VIR_STORAGE_VOL_GET_PHYSICAL: the host's size in place of the allocation
    const allocation = flags & 1 ? (v.physical ?? v.allocation) : v.allocation;
    return { type, capacity: v.capacity, allocation };
  }

  async storageVolGetXMLDesc(vol: StorageVol, flags: number): Promise<string> {
    virCheckFlags(flags, 0, 'storageVolGetXMLDesc', 'storage');
    const { obj, v } = this.volObj(vol);
    return formatVolXml(obj.def.type, v);
  }

  async storageVolGetPath(vol: StorageVol): Promise<string> {
    return this.volObj(vol).v.target.path ?? '';
  }

  async storageVolWipe(vol: StorageVol, flags: number): Promise<void> {
    return this.storageVolWipePattern(vol, VIR_STORAGE_VOL_WIPE_ALG.ZERO, flags);
  }

  async storageVolWipePattern(vol: StorageVol, algorithm: number, flags: number): Promise<void> {
    return this.serial(async () => {
      virCheckFlags(flags, 0, 'storageVolWipePattern', 'storage');
      const { obj, v } = this.volObj(vol);
      this.checkIdle(obj, v);
      await this.backend(obj.def).wipeVol(obj.def, v, algorithm, flags);
      await this.refreshObj(obj).catch(() => {});
    });
  }

  async storageVolResize(vol: StorageVol, capacity: number, flags: number): Promise<void> {
    return this.serial(async () => {
      const { obj, v } = this.volObj(vol);
      this.checkIdle(obj, v);
      const abs =
        flags & VIR_STORAGE_VOL_RESIZE.DELTA
          ? flags & VIR_STORAGE_VOL_RESIZE.SHRINK
            ? v.capacity - capacity
            : v.capacity + capacity
          : capacity;
      if (
        abs < 0 ||
        (flags & VIR_STORAGE_VOL_RESIZE.DELTA &&
          flags & VIR_STORAGE_VOL_RESIZE.SHRINK &&
          capacity > v.capacity)
      ) {
        throw virReportError('INVALID_ARG', 'storage', "can't shrink capacity below existing allocation");
      }
      if (abs < v.allocation && !(flags & VIR_STORAGE_VOL_RESIZE.SHRINK)) {
        throw virReportError('INVALID_ARG', 'storage', "can't shrink capacity below existing allocation");
      }
      if (abs < v.capacity && !(flags & VIR_STORAGE_VOL_RESIZE.SHRINK)) {
        throw virReportError(
          'INVALID_ARG',
          'storage',
          "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
        );
      }
      if (flags & VIR_STORAGE_VOL_RESIZE.ALLOCATE && abs - v.allocation > obj.def.available) {
        throw virReportError('OPERATION_FAILED', 'storage', 'Not enough space left in storage pool');
      }
      const b = this.backend(obj.def);
      if (!b.resizeVol) {
        throw virReportError(
          'NO_SUPPORT',
          'storage',
          'storage pool does not support changing of volume capacity',
        );
      }
      await b.resizeVol(obj.def, v, abs, flags);
      await this.refreshObj(obj).catch(() => {});
    });
  }

  /** A transfer holds the volume busy until its stream ends, then the pool is refreshed. */
  private async transfer(
    vol: StorageVol,
    open: (path: string, release: () => Promise<void>) => Promise<VirStream>,
  ): Promise<VirStream> {
    const { obj, v } = this.volObj(vol);
    this.checkIdle(obj, v);
    this.busyInc(obj, v.name, 1);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      this.busyInc(obj, v.name, -1);
      await this.serial(() => this.refreshObj(obj)).catch(() => {});
    };
    try {
      return await open(v.target.path!, release);
    } catch (err) {
      await release();
      throw err;
    }
  }

  async storageVolUpload(vol: StorageVol, offset: number, length: number, flags: number): Promise<VirStream> {
    virCheckFlags(flags, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM, 'storageVolUpload', 'storage');
    return this.transfer(vol, (p, release) => openUploadStream(p, offset, length, !!flags, release));
  }

  async storageVolDownload(
    vol: StorageVol,
    offset: number,
    length: number,
    flags: number,
  ): Promise<VirStream> {
    virCheckFlags(flags, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM, 'storageVolDownload', 'storage');
    return this.transfer(vol, (p, release) => openDownloadStream(p, offset, length, !!flags, release));
  }

  /** For the QEMU driver's `<disk type='volume'>`: the volume's pool type, path and kind. */
  async translateVolume(
    poolName: string,
    volName: string,
  ): Promise<{ poolType: string; path: string; volType: string; format?: string }> {
    const pool = await this.storagePoolLookupByName(poolName);
    const ref = await this.storageVolLookupByName(pool, volName);
    const { obj, v } = this.volObj(ref);
    return {
      poolType: obj.def.type,
      path: v.target.path!,
      volType: v.type,
      ...(v.target.format ? { format: v.target.format } : {}),
    };
  }

  /** Nothing to release but the callbacks (pools keep running, as libvirt's do across restarts). */
  async close(): Promise<void> {
    this.callbacks.clear();
    await this.queue;
  }
}
