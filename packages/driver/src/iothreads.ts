/**
 * IOThreads as libvirt 9.0's QEMU driver manages them (qemu_driver.c qemuDomainGetIOThreadInfo,
 * qemuDomainPinIOThread, qemuDomainChgIOThread with qemuDomainHotplugAdd/DelIOThread;
 * hypervisor/domain_driver.c's checks): QEMU's view through `query-iothreads`, `object-add` /
 * `object-del` of an `iothread` object named `iothreadN`, the thread's affinity (cpu-affinity.ts), its
 * `iothreadN/` cgroup (domain-cgroup.ts), and `<iothreads>` / `<iothreadids>` /
 * `<cputune><iothreadpin>` in the definitions.
 */
import { type DomainDef, virCheckFlags, virReportError } from '@qvirt/core';
import {
  type TypedParam,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT_ID,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import { iothreadIds, validateTypedParams } from './cgroup-tuning.js';
import { threadAffinity, virProcessSetAffinity } from './cpu-affinity.js';
import { cpusOfMap, formatCpuset, mapOfCpus, parseCpuset } from './cpumap.js';
import type { DomainCgroups } from './domain-cgroup.js';
import { affectedDefs, copyDef, type LiveDomain, operationInvalid } from './live-domain.js';
import { hostCpuCount } from './vcpus.js';

const A = VIR_DOMAIN_AFFECT;
const invalidArg = (msg: string) => virReportError('INVALID_ARG', 'qemu', msg);

export interface IOThreadInfo {
  iothread_id: number;
  cpumap: Uint8Array;
}

interface QmpIOThread {
  id: string;
  'thread-id': number;
}

/** qemuMonitorJSONGetIOThreads: QEMU's IOThreads named `iothreadN`, in QEMU's order. */
export async function monitorIOThreads(dom: LiveDomain): Promise<Array<{ id: number; tid: number }>> {
  const mon = await dom.monitor();
  const list = await mon.execute<QmpIOThread[]>('query-iothreads');
  return list.flatMap((t) => {
    const m = /^iothread(\d+)$/.exec(t.id);
    return m ? [{ id: Number(m[1]), tid: t['thread-id'] }] : [];
  });
}

const hostMaplen = () => Math.ceil(hostCpuCount() / 8);

interface CpuTuneLike {
  iothreadpin?: Array<{ iothread?: number; cpuset?: string }>;
  [k: string]: unknown;
}
const cputune = (def: DomainDef) => def.cputune as CpuTuneLike | undefined;

/** qemuDomainGetIOThreadInfo: QEMU's threads and their affinity, or the config's. */
export async function getIOThreadInfo(
  dom: LiveDomain,
  flags: number,
): Promise<{ info: IOThreadInfo[]; ret: number }> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainGetIOThreadInfo');
  const defs = affectedDefs(dom, flags);
  const maplen = hostMaplen();
  if (defs.config) {
    // virDomainDriverGetIOThreadsConfig: the pin, else <vcpu cpuset>, else every host CPU
    const def = defs.config;
    const info = iothreadIds(def).map((id) => {
      const pin = cputune(def)?.iothreadpin?.find((p) => Number(p.iothread) === id)?.cpuset;
      const cpuset = pin ?? (def.vcpu as { cpuset?: string } | undefined)?.cpuset;
      const cpus = cpuset ? parseCpuset(cpuset) : Array.from({ length: hostCpuCount() }, (_, c) => c);
      return { iothread_id: id, cpumap: mapOfCpus(cpus, maplen) };
    });
    return { info, ret: info.length };
  }
  if (!dom.active) throw operationInvalid('cannot list IOThreads for an inactive domain');
  const info = (await monitorIOThreads(dom)).map((t) => ({
    iothread_id: t.id,
    cpumap: mapOfCpus(threadAffinity(t.tid) ?? [], maplen),
  }));
  return { info, ret: info.length };
}

function setIOThreadPin(def: DomainDef, id: number, cpus: number[]): void {
  const tune = ((def as { cputune?: CpuTuneLike }).cputune ??= {});
  const pins = (tune.iothreadpin ?? []).filter((p) => Number(p.iothread) !== id);
  pins.push({ iothread: id, cpuset: formatCpuset(cpus) });
  pins.sort((a, b) => Number(a.iothread) - Number(b.iothread));
  tune.iothreadpin = pins;
}

/** qemuDomainPinIOThread. */
export async function pinIOThread(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  iothreadId: number,
  cpumap: Uint8Array,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainPinIOThread');
  const defs = affectedDefs(dom, flags);
  const cpus = cpusOfMap(cpumap);
  if (cpus.length === 0) throw invalidArg('Empty iothread cpumap list for pinning');
  if (defs.live) {
    if (!iothreadIds(defs.live).includes(iothreadId)) throw invalidArg(`iothread ${iothreadId} not found`);
    const thread = (await monitorIOThreads(dom)).find((t) => t.id === iothreadId);
    if (!thread) throw invalidArg(`iothread ${iothreadId} not found`);
    // the cpuset of the IOThread's group first, then the thread's affinity
    const cg = cgroups.existing(defs.live, dom.id);
    if (cg?.has('cpuset')) {
      try {
        await cg.write('cpuset', 'cpuset.cpus', formatCpuset(cpus), 'iothread', iothreadId);
      } catch {
        throw virReportError('OPERATION_INVALID', 'qemu', 'failed to set cpuset.cpus in cgroup for iothread');
      }
    }
    virProcessSetAffinity(thread.tid, cpus);
    const live = copyDef(defs.live);
    setIOThreadPin(live, iothreadId, cpus);
    await dom.saveLive(live);
    dom.emit({
      eventID: VIR_DOMAIN_EVENT_ID.TUNABLE,
      params: [
        {
          field: `cputune.iothreadpin${iothreadId}`,
          type: VIR_TYPED_PARAM.STRING,
          value: formatCpuset(cpus),
        },
      ],
    });
  }
  if (defs.config) {
    if (!iothreadIds(defs.config).includes(iothreadId))
      throw invalidArg(`iothreadid ${iothreadId} not found`);
    const config = copyDef(defs.config);
    setIOThreadPin(config, iothreadId, cpus);
    await dom.saveConfig(config);
  }
}

/** virDomainIOThreadIDAdd / Del on a definition: `<iothreadids>` kept explicit from then on. */
function changeIds(def: DomainDef, add: number | undefined, del: number | undefined): void {
  let ids = iothreadIds(def);
  if (add !== undefined) ids = [...ids, add];
  if (del !== undefined) {
    ids = ids.filter((i) => i !== del);
    const tune = cputune(def);
    if (tune?.iothreadpin) {
      tune.iothreadpin = tune.iothreadpin.filter((p) => Number(p.iothread) !== del);
      if (tune.iothreadpin.length === 0) delete tune.iothreadpin;
    }
  }
  const d = def as { iothreads?: number; iothreadids?: { iothread?: Array<{ id: number }> } };
  const old = new Map((d.iothreadids?.iothread ?? []).map((t) => [Number(t.id), t]));
  if (ids.length === 0) {
    delete d.iothreads;
    delete d.iothreadids;
    return;
  }
  d.iothreads = ids.length;
  d.iothreadids = { iothread: ids.map((id) => old.get(id) ?? { id }) };
}

/** virDomainDriverAddIOThreadCheck. */
function addCheck(def: DomainDef, id: number): void {
  if (iothreadIds(def).includes(id)) throw invalidArg(`an IOThread is already using iothread_id '${id}'`);
}

/** virDomainDriverDelIOThreadCheck. */
function delCheck(def: DomainDef, id: number): void {
  if (!iothreadIds(def).includes(id)) throw invalidArg(`cannot find IOThread '${id}' in iothreadids list`);
  const devices = (def.devices ?? {}) as {
    disk?: Array<{ target?: { dev?: string }; driver?: { iothread?: number } }>;
    controller?: Array<{ driver?: { iothread?: number } }>;
  };
  for (const disk of devices.disk ?? []) {
    if (Number(disk.driver?.iothread) === id)
      throw invalidArg(`cannot remove IOThread ${id} since it is being used by disk '${disk.target?.dev}'`);
  }
  for (const c of devices.controller ?? []) {
    if (Number(c.driver?.iothread) === id)
      throw invalidArg(`cannot remove IOThread '${id}' since it is being used by controller`);
  }
}

/** qemuDomainAddIOThread / qemuDomainDelIOThread (qemuDomainChgIOThread). */
export async function changeIOThread(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  action: 'add' | 'del',
  id: number,
  flags: number,
): Promise<void> {
  virCheckFlags(
    flags,
    A.LIVE | A.CONFIG,
    action === 'add' ? 'qemuDomainAddIOThread' : 'qemuDomainDelIOThread',
  );
  if (id === 0) throw invalidArg('invalid value of 0 for iothread_id');
  const defs = affectedDefs(dom, flags);
  let config: DomainDef | undefined;
  if (defs.config) {
    config = copyDef(defs.config);
    if (action === 'add') addCheck(config, id);
    else delCheck(config, id);
    changeIds(config, action === 'add' ? id : undefined, action === 'del' ? id : undefined);
  }
  if (defs.live) {
    const live = copyDef(defs.live);
    const mon = await dom.monitor();
    const alias = `iothread${id}`;
    const before = iothreadIds(live).length;
    if (action === 'add') {
      addCheck(live, id);
      await mon.execute('object-add', { 'qom-type': 'iothread', id: alias });
      try {
        const now = await monitorIOThreads(dom);
        if (now.length !== before + 1)
          throw virReportError(
            'INTERNAL_ERROR',
            'qemu',
            `got wrong number of IOThread ids from QEMU monitor. got ${now.length}, wanted ${before + 1}`,
          );
        const thread = now.find((t) => t.id === id);
        if (!thread)
          throw virReportError('INTERNAL_ERROR', 'qemu', `cannot find new IOThread '${id}' in QEMU monitor.`);
        changeIds(live, id, undefined);
        // qemuProcessSetupIOThread: its cgroup, CPU set, bandwidth and affinity
        await cgroups.placeThread(cgroups.existing(live, dom.id), live, 'iothread', id, thread.tid, dom.pid!);
      } catch (err) {
        await mon.execute('object-del', { id: alias }).catch(() => {});
        await cgroups.existing(live, dom.id)?.removeThreadGroup('iothread', id);
        throw err;
      }
    } else {
      delCheck(live, id);
      await mon.execute('object-del', { id: alias });
      const now = await monitorIOThreads(dom);
      changeIds(live, undefined, id);
      await cgroups.existing(live, dom.id)?.removeThreadGroup('iothread', id);
      if (now.length !== before - 1) {
        await dom.saveLive(live);
        throw virReportError(
          'INTERNAL_ERROR',
          'qemu',
          `got wrong number of IOThread ids from QEMU monitor. got ${now.length}, wanted ${before - 1}`,
        );
      }
    }
    await dom.saveLive(live);
  }
  if (config) await dom.saveConfig(config);
}

const INT_MAX = 2147483647;

interface IOThreadMod {
  poll_max_ns?: number;
  poll_grow?: number;
  poll_shrink?: number;
  thread_pool_min?: number;
  thread_pool_max?: number;
}

/** qemuDomainIOThreadParseParams. */
function parseIOThreadParams(params: TypedParam[]): IOThreadMod {
  const T = VIR_TYPED_PARAM;
  validateTypedParams(params, {
    poll_max_ns: T.ULLONG,
    poll_grow: T.UINT,
    poll_shrink: T.UINT,
    thread_pool_min: T.INT,
    thread_pool_max: T.INT,
  });
  const mod: IOThreadMod = {};
  for (const p of params) mod[p.field as keyof IOThreadMod] = Number(p.value);
  const unsupported = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'qemu', msg);
  if (mod.poll_max_ns !== undefined && mod.poll_max_ns > INT_MAX)
    throw unsupported(`poll-max-ns (${mod.poll_max_ns}) must be less than or equal to ${INT_MAX}`);
  if (mod.poll_grow !== undefined && mod.poll_grow > INT_MAX)
    throw unsupported(`poll-grow (${mod.poll_grow}) must be less than or equal to ${INT_MAX}`);
  if (mod.poll_shrink !== undefined && mod.poll_shrink > INT_MAX)
    throw unsupported(`poll-shrink (${mod.poll_shrink}) must be less than or equal to ${INT_MAX}`);
  if (mod.thread_pool_min !== undefined && mod.thread_pool_min < -1)
    throw unsupported(`thread_pool_min (${mod.thread_pool_min}) must be equal to or greater than -1`);
  if (mod.thread_pool_max !== undefined && (mod.thread_pool_max < -1 || mod.thread_pool_max === 0))
    throw unsupported(`thread_pool_max (${mod.thread_pool_max}) must be a positive number or -1`);
  return mod;
}

interface IOThreadIdDef {
  id: number;
  thread_pool_min?: number;
  thread_pool_max?: number;
}

/** virDomainIOThreadIDFind on a definition whose `<iothreadids>` is made explicit. */
function findIOThreadDef(def: DomainDef, id: number): IOThreadIdDef | undefined {
  if (!iothreadIds(def).includes(id)) return undefined;
  changeIds(def, undefined, undefined);
  return (def as { iothreadids?: { iothread?: IOThreadIdDef[] } }).iothreadids?.iothread?.find(
    (t) => Number(t.id) === id,
  );
}

/** qemuDomainIOThreadValidate: the pool's bounds as they would end up. */
function validateIOThreadMod(t: IOThreadIdDef, mod: IOThreadMod, live: boolean): void {
  let min = t.thread_pool_min === undefined ? -1 : Number(t.thread_pool_min);
  let max = t.thread_pool_max === undefined ? -1 : Number(t.thread_pool_max);
  if (mod.thread_pool_min !== undefined) {
    if (live && mod.thread_pool_min < 0)
      throw operationInvalid(
        `thread_pool_min (${mod.thread_pool_min}) must be equal to or greater than 0 for live change`,
      );
    min = mod.thread_pool_min;
  }
  if (mod.thread_pool_max !== undefined) {
    if (live && mod.thread_pool_max < 0)
      throw operationInvalid(
        `thread_pool_max (${mod.thread_pool_max}) must be equal to or greater than 0 for live change`,
      );
    max = mod.thread_pool_max;
  }
  if (min > max)
    throw operationInvalid(`thread_pool_min (${min}) can't be greater than thread_pool_max (${max})`);
}

/** qemuDomainHotplugModIOThreadIDDef: only the pool has a place in the XML (-1: QEMU's default). */
function storePool(t: IOThreadIdDef, mod: IOThreadMod): void {
  for (const k of ['thread_pool_min', 'thread_pool_max'] as const) {
    const v = mod[k];
    if (v === undefined) continue;
    if (v < 0) delete t[k];
    else t[k] = v;
  }
}

/** qemuDomainSetIOThreadParams (qemuDomainChgIOThread's MOD): `qom-set` on the iothread object. */
export async function setIOThreadParams(
  dom: LiveDomain,
  id: number,
  params: TypedParam[],
  flags: number,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetIOThreadParams');
  if (id === 0) throw invalidArg('invalid value of 0 for iothread_id');
  const mod = parseIOThreadParams(params);
  const defs = affectedDefs(dom, flags);
  const polling =
    mod.poll_max_ns !== undefined || mod.poll_grow !== undefined || mod.poll_shrink !== undefined;
  let config: DomainDef | undefined;
  if (defs.config) {
    config = copyDef(defs.config);
    const t = findIOThreadDef(config, id);
    if (!t) throw invalidArg(`cannot find IOThread '${id}' in iothreadids`);
    validateIOThreadMod(t, mod, false);
    if (polling)
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        'configuring persistent polling values is not supported',
      );
    storePool(t, mod);
  }
  if (defs.live) {
    const live = copyDef(defs.live);
    const t = findIOThreadDef(live, id);
    if (!t) throw invalidArg(`cannot find IOThread '${id}' in iothreadids`);
    validateIOThreadMod(t, mod, true);
    const mon = await dom.monitor();
    const path = `/objects/iothread${id}`;
    const set = (property: string, value: number | undefined) =>
      value === undefined ? undefined : mon.execute('qom-set', { path, property, value });
    await set('poll-max-ns', mod.poll_max_ns);
    await set('poll-grow', mod.poll_grow);
    await set('poll-shrink', mod.poll_shrink);
    // the maximum first when the new minimum is above the current maximum
    let maxFirst = false;
    if (mod.thread_pool_min !== undefined && mod.thread_pool_max !== undefined)
      maxFirst =
        (await mon.execute<number>('qom-get', { path, property: 'thread-pool-max' })) < mod.thread_pool_min;
    if (maxFirst) await set('thread-pool-max', mod.thread_pool_max);
    await set('thread-pool-min', mod.thread_pool_min);
    if (!maxFirst) await set('thread-pool-max', mod.thread_pool_max);
    storePool(t, mod);
    await dom.saveLive(live);
  }
  if (config) await dom.saveConfig(config);
}
