/**
 * vCPUs of a domain, as libvirt 9.0's QEMU driver handles them: counts (virDomainDefGetVcpus*),
 * placement and time of the vCPU threads (qemuDomainHelperGetVcpus), pinning
 * (qemuDomainPinVcpuFlags, qemuDomainPinEmulator and their Get*PinInfo, through
 * cpu-affinity.ts, with the vCPU group's cpuset) and the count (qemuDomainSetVcpusFlags: the config, or QEMU's
 * hotpluggable CPUs through `device_add`).
 *
 * The thread ids come from QEMU (`query-cpus-fast`), their time, CPU and affinity from /proc.
 */
import { readFileSync } from 'node:fs';
import { type DomainDef, VirError, virCheckFlags, virReportInvalidArg } from '@qvirt/core';
import {
  type DomainVcpus,
  type TypedParam,
  type VcpuInfo,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_VCPU,
  VIR_TYPED_PARAM,
  VIR_VCPU,
} from '@qvirt/core/hypervisor';
import { cpuMap, realHostFs } from '@qvirt/host-prober';
import { threadAffinity, virProcessSetAffinity } from './cpu-affinity.js';
import { cpusOfMap, formatCpuset, mapOfCpus, parseCpuset } from './cpumap.js';
import type { DomainCgroups } from './domain-cgroup.js';
import { affectedDefs, copyDef, type LiveDomain, operationInvalid } from './live-domain.js';

const invalidArg = (msg: string) => new VirError('INVALID_ARG', 'qemu', `invalid argument: ${msg}`);

interface VcpuSet {
  value?: number;
  current?: number;
  cpuset?: string;
  placement?: string;
}
interface VcpuEntry {
  id?: number;
  enabled?: string;
  hotpluggable?: string;
  order?: number;
}
interface CpuTune {
  vcpupin?: { vcpu?: number; cpuset?: string }[];
  emulatorpin?: { cpuset?: string };
  [k: string]: unknown;
}

/** virHostCPUGetCount: the CPUs present on this host. */
export function hostCpuCount(): number {
  return cpuMap(realHostFs()).cpus;
}

/** virDomainDefGetVcpusMax. */
export function vcpusMax(def: DomainDef): number {
  return Number((def.vcpu as VcpuSet | undefined)?.value ?? 1);
}

/** virDomainDefGetVcpus: the vCPUs online. */
export function vcpusCurrent(def: DomainDef): number {
  const v = def.vcpu as VcpuSet | undefined;
  return Number(v?.current ?? v?.value ?? 1);
}

/** The online state of each vCPU: `<vcpus>` when the definition has it, else the first `current`. */
export function vcpuOnline(def: DomainDef): boolean[] {
  const max = vcpusMax(def);
  const entries = (def.vcpus as { vcpu?: VcpuEntry[] } | undefined)?.vcpu;
  const cur = vcpusCurrent(def);
  return Array.from({ length: max }, (_, i) => {
    const e = entries?.find((x) => Number(x.id) === i);
    return e ? e.enabled !== 'no' : i < cur;
  });
}

function cputune(def: DomainDef): CpuTune | undefined {
  return def.cputune as CpuTune | undefined;
}

/** The CPUs vCPU `i` may run on per the definition (virDomainDefGetVcpuPinInfoHelper's choice). */
function definedVcpuAffinity(def: DomainDef, i: number, hostcpus: number): number[] {
  const pin = cputune(def)?.vcpupin?.find((p) => Number(p.vcpu) === i);
  if (pin?.cpuset) return parseCpuset(pin.cpuset);
  const v = def.vcpu as VcpuSet | undefined;
  if (v?.cpuset) return parseCpuset(v.cpuset);
  return Array.from({ length: hostcpus }, (_, c) => c);
}

/** qemuDomainGetVcpuPinInfo (virDomainDefGetVcpuPinInfoHelper): the maps of the first `ncpumaps` vCPUs. */
export function getVcpuPinInfo(
  dom: LiveDomain,
  ncpumaps: number,
  maplen: number,
  flags: number,
): { cpumaps: Uint8Array; num: number } {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainGetVcpuPinInfo');
  const defs = affectedDefs(dom, flags);
  const def = (defs.live ?? defs.config)!;
  const hostcpus = hostCpuCount();
  const n = Math.min(vcpusMax(def), Math.max(0, ncpumaps));
  const out = new Uint8Array(Math.max(0, ncpumaps) * maplen);
  for (let i = 0; i < n; i++) out.set(mapOfCpus(definedVcpuAffinity(def, i, hostcpus), maplen), i * maplen);
  return { cpumaps: out, num: n };
}

/** qemuDomainGetEmulatorPinInfo: `<emulatorpin>`, else `<vcpu cpuset>`, else every host CPU. */
export function getEmulatorPinInfo(
  dom: LiveDomain,
  maplen: number,
  flags: number,
): { cpumaps: Uint8Array; ret: number } {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainGetEmulatorPinInfo');
  const defs = affectedDefs(dom, flags);
  const def = (defs.live ?? defs.config)!;
  const pin = cputune(def)?.emulatorpin?.cpuset ?? (def.vcpu as VcpuSet | undefined)?.cpuset;
  const cpus = pin ? parseCpuset(pin) : Array.from({ length: hostCpuCount() }, (_, c) => c);
  return { cpumaps: mapOfCpus(cpus, maplen), ret: 1 };
}

/** QEMU's vCPU threads by vCPU index (`query-cpus-fast`). */
async function vcpuThreads(dom: LiveDomain): Promise<Map<number, number>> {
  const mon = await dom.monitor();
  const cpus = await mon.execute<{ 'cpu-index': number; 'thread-id': number }[]>('query-cpus-fast');
  return new Map(cpus.map((c) => [c['cpu-index'], c['thread-id']]));
}

/** virProcessGetStatInfo: a thread's CPU time (ns) and the CPU it last ran on. */
function threadStat(pid: number, tid: number): { cpuTime: number; cpu: number } {
  const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  // fields after "(comm)": state is field 3, utime 14, stime 15, processor 39
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(rest[n - 3]);
  const tick = 1e9 / 100; // sysconf(_SC_CLK_TCK) is 100 on Linux
  return { cpuTime: (field(14) + field(15)) * tick, cpu: field(39) };
}

/** qemuDomainGetVcpus (qemuDomainHelperGetVcpus): the online vCPUs' time, CPU and affinity. */
export async function getVcpus(dom: LiveDomain, maxinfo: number, maplen: number): Promise<DomainVcpus> {
  if (!dom.active) throw operationInvalid('cannot retrieve vcpu information for inactive domain');
  const def = dom.live ?? dom.config;
  if (maxinfo <= 0) return { info: [], cpumaps: new Uint8Array(0) };
  const threads = await vcpuThreads(dom);
  if (threads.size === 0) throw operationInvalid('cpu affinity is not supported');
  const online = vcpuOnline(def);
  const info: VcpuInfo[] = [];
  const cpumaps = new Uint8Array(maxinfo * Math.max(0, maplen));
  for (let i = 0; i < online.length && info.length < maxinfo; i++) {
    if (!online[i]) continue;
    const tid = threads.get(i);
    if (tid === undefined) continue;
    const st = threadStat(dom.pid!, tid);
    if (maplen > 0) cpumaps.set(mapOfCpus(threadAffinity(dom.pid!, tid) ?? [], maplen), info.length * maplen);
    info.push({ number: i, state: VIR_VCPU.RUNNING, cpu_time: st.cpuTime, cpu: st.cpu });
  }
  return { info, cpumaps: maplen > 0 ? cpumaps : new Uint8Array(0) };
}

/** A TUNABLE event's CPU set parameter (VIR_TYPED_PARAM_STRING, virBitmapFormat). */
function tunable(field: string, cpus: number[]): TypedParam {
  return { field, type: VIR_TYPED_PARAM.STRING, value: formatCpuset(cpus) };
}

function setPin(def: DomainDef, vcpu: number, cpus: number[]): void {
  const tune = (def.cputune ??= {}) as CpuTune;
  const pins = (tune.vcpupin ??= []).filter((p) => Number(p.vcpu) !== vcpu);
  pins.push({ vcpu, cpuset: formatCpuset(cpus) });
  pins.sort((a, b) => Number(a.vcpu) - Number(b.vcpu));
  tune.vcpupin = pins;
}

/** qemuDomainPinVcpuFlags. */
export async function pinVcpu(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  vcpu: number,
  cpumap: Uint8Array,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainPinVcpuFlags');
  const defs = affectedDefs(dom, flags);
  if (defs.config && vcpu >= vcpusMax(defs.config)) {
    throw invalidArg(`vcpu ${vcpu} is out of range of persistent cpu count ${vcpusCurrent(defs.config)}`);
  }
  const cpus = cpusOfMap(cpumap);
  if (cpus.length === 0) throw invalidArg('Empty cpu list for pinning');
  if (defs.live) {
    const threads = await vcpuThreads(dom);
    if (threads.size === 0) throw operationInvalid('cpu affinity is not supported');
    if (vcpu >= vcpusMax(defs.live)) {
      throw invalidArg(`vcpu ${vcpu} is out of range of live cpu count ${vcpusMax(defs.live)}`);
    }
    const tid = threads.get(vcpu);
    if (vcpuOnline(defs.live)[vcpu] && tid !== undefined) {
      // qemuDomainPinVcpuLive: the vCPU group's cpuset first, then the thread's affinity
      const cg = cgroups.existing(defs.live, dom.id);
      if (cg?.has('cpuset')) await cg.write('cpuset', 'cpuset.cpus', formatCpuset(cpus), 'vcpu', vcpu);
      virProcessSetAffinity(tid, cpus);
    }
    const live = copyDef(defs.live);
    setPin(live, vcpu, cpus);
    await dom.saveLive(live);
    // qemuDomainPinVcpuLive's TUNABLE event
    dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.TUNABLE, params: [tunable(`cputune.vcpupin${vcpu}`, cpus)] });
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    setPin(config, vcpu, cpus);
    await dom.saveConfig(config);
  }
}

/** qemuDomainPinEmulator: the QEMU threads that are not vCPUs. */
export async function pinEmulator(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  cpumap: Uint8Array,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainPinEmulator');
  const defs = affectedDefs(dom, flags);
  const cpus = cpusOfMap(cpumap);
  if (cpus.length === 0) throw invalidArg('Empty cpu list for pinning');
  const set = (def: DomainDef) => {
    const d = copyDef(def);
    ((d.cputune ??= {}) as CpuTune).emulatorpin = { cpuset: formatCpuset(cpus) };
    return d;
  };
  if (defs.live) {
    // the emulator group's cpuset (every thread that is not a vCPU's or an IOThread's), then the
    // main thread's affinity, as qemuDomainPinEmulator
    const cg = cgroups.existing(defs.live, dom.id);
    if (cg?.has('cpuset')) await cg.write('cpuset', 'cpuset.cpus', formatCpuset(cpus), 'emulator');
    virProcessSetAffinity(dom.pid!, cpus);
    await dom.saveLive(set(defs.live));
    dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.TUNABLE, params: [tunable('cputune.emulatorpin', cpus)] });
  }
  if (defs.config) await dom.saveConfig(set(defs.config));
}

/**
 * qemuDomainSetVcpusFlags: the config's count (or maximum), or the live count through QEMU's
 * hotpluggable CPUs (`query-hotpluggable-cpus`, `device_add` / `device_del`).
 */
export async function setVcpus(dom: LiveDomain, nvcpus: number, flags: number): Promise<void> {
  const A = VIR_DOMAIN_AFFECT;
  const V = VIR_DOMAIN_VCPU;
  virCheckFlags(flags, A.LIVE | A.CONFIG | V.MAXIMUM | V.GUEST | V.HOTPLUGGABLE, 'qemuDomainSetVcpusFlags');
  const defs = affectedDefs(dom, flags);
  if (flags & V.GUEST) {
    throw new VirError(
      'AGENT_UNRESPONSIVE',
      'qemu',
      'Guest agent is not responding: QEMU guest agent is not connected',
    );
  }
  // virDomainSetVcpusFlags' own check (libvirt-domain.c), libvirt's text as is
  if (nvcpus === 0) throw new VirError('INVALID_ARG', 'none', "Can't set 0 processors for a VM");
  if (flags & V.MAXIMUM) {
    if (defs.live) {
      throw new VirError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        "unsupported configuration: maximum vcpu count of a live domain can't be modified",
      );
    }
    const config = copyDef(defs.config!);
    const v = (config.vcpu ??= {}) as VcpuSet;
    v.value = nvcpus;
    if (v.current !== undefined && v.current > nvcpus) v.current = undefined;
    if (v.current === nvcpus) v.current = undefined;
    await dom.saveConfig(config);
    return;
  }
  if (defs.live) await setLiveVcpus(dom, defs.live, nvcpus);
  if (defs.config) {
    const max = vcpusMax(defs.config);
    if (nvcpus > max) {
      throw invalidArg(
        `requested vcpus is greater than max allowable vcpus for the persistent domain: ${nvcpus} > ${max}`,
      );
    }
    const config = copyDef(defs.config);
    const v = (config.vcpu ??= {}) as VcpuSet;
    v.current = nvcpus === max ? undefined : nvcpus;
    await dom.saveConfig(config);
  }
}

interface HotpluggableCpu {
  type: string;
  'vcpus-count': number;
  props: Record<string, number>;
  'qom-path'?: string;
}

/**
 * qemuDomainSetVcpusFlags' live count: which vCPUs to plug (the first offline hotpluggable ones)
 * or unplug (the last online hotpluggable ones), through qemuDomainSetVcpusLive.
 */
async function setLiveVcpus(dom: LiveDomain, def: DomainDef, nvcpus: number): Promise<void> {
  const max = vcpusMax(def);
  if (nvcpus > max) {
    throw invalidArg(
      `requested vcpus is greater than max allowable vcpus for the live domain: ${nvcpus} > ${max}`,
    );
  }
  const online = vcpuOnline(def);
  const cur = online.filter(Boolean).length;
  if (nvcpus === cur) return;
  const entries = vcpuEntries(def);
  const hotpluggable = (i: number) => entries.find((e) => Number(e.id) === i)?.hotpluggable === 'yes';
  const targets: number[] = [];
  if (nvcpus > cur) {
    for (let i = 0; i < online.length && targets.length < nvcpus - cur; i++)
      if (!online[i] && hotpluggable(i)) targets.push(i);
  } else {
    for (let i = online.length - 1; i >= 0 && targets.length < cur - nvcpus; i--)
      if (online[i] && hotpluggable(i)) targets.push(i);
  }
  await setVcpusLive(dom, def, targets, nvcpus > cur);
}

/**
 * The definition's `<vcpus>` entries, or the ones libvirt fills in without them
 * (virDomainDefVcpusPostParse: the vCPUs offline at boot are the hotpluggable ones).
 */
function vcpuEntries(def: DomainDef): VcpuEntry[] {
  const given = (def.vcpus as { vcpu?: VcpuEntry[] } | undefined)?.vcpu;
  if (given) return given;
  const boot = vcpusCurrent(def);
  return vcpuOnline(def).map((on, i) => ({
    id: i,
    enabled: on ? 'yes' : 'no',
    hotpluggable: i < boot ? 'no' : 'yes',
    ...(on ? { order: i + 1 } : {}),
  }));
}

/**
 * qemuDomainSetVcpusLive: one `device_add` (or `device_del`) per vCPU, in order. The first change
 * writes `<vcpus>` into the live definition, as libvirt's dumpxml then shows.
 */
async function setVcpusLive(
  dom: LiveDomain,
  def: DomainDef,
  targets: number[],
  state: boolean,
): Promise<void> {
  const max = vcpusMax(def);
  const live = copyDef(def);
  const entries = vcpuEntries(live);
  (live as Record<string, unknown>).vcpus = { vcpu: entries };
  const entry = (i: number) => entries.find((e) => Number(e.id) === i)!;
  const mon = await dom.monitor();
  const slots = await mon.execute<HotpluggableCpu[]>('query-hotpluggable-cpus');
  // QEMU lists the slots last first: vCPU i is the i-th in socket/core/thread order
  const ordered = [...slots].reverse();
  let order = Math.max(0, ...entries.map((e) => Number(e.order ?? 0)));
  for (const i of targets) {
    // qemuDomainHotplugDelVcpu: a vCPU QEMU started with (-smp) has no alias to unplug
    if (!state && entry(i).hotpluggable !== 'yes')
      throw new VirError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `Operation not supported: vcpu '${i}' can't be unplugged`,
      );
    if (state) {
      const slot = ordered[i];
      if (!slot) continue;
      await mon.execute('device_add', { driver: slot.type, id: `vcpu${i}`, ...slot.props });
      Object.assign(entry(i), { enabled: 'yes', order: ++order });
    } else {
      await mon.execute('device_del', { id: `vcpu${i}` });
      Object.assign(entry(i), { enabled: 'no', order: undefined });
    }
  }
  const v = (live.vcpu ??= {}) as VcpuSet;
  const now = entries.filter((e) => e.enabled === 'yes').length;
  v.current = now === max ? undefined : now;
  await dom.saveLive(live);
}

/** QEMU_GUEST_VCPU_MAX_ID: the highest vCPU number virDomainSetVcpu's map may name (exclusive). */
const QEMU_GUEST_VCPU_MAX_ID = 4096;

/**
 * qemuDomainSetVcpu: enables or disables the vCPUs `cpumap` names, live (one hotpluggable
 * entity at a time, qemuDomainFilterHotplugVcpuEntities) and/or in the config (with `<vcpus>`,
 * qemuDomainSetVcpuConfig), with libvirt's refusals in its order.
 */
export async function setVcpu(dom: LiveDomain, cpumap: string, state: number, flags: number): Promise<void> {
  const A = VIR_DOMAIN_AFFECT;
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetVcpu');
  if (state !== 0 && state !== 1) throw virReportInvalidArg('qemu', 'unsupported state value');
  let map: number[];
  try {
    map = parseCpuset(cpumap, QEMU_GUEST_VCPU_MAX_ID);
  } catch {
    // virBitmapParse's error, reported by the driver
    throw invalidArg(`Failed to parse bitmap '${cpumap}'`);
  }
  if (map.length === 0) throw invalidArg('no vcpus selected for modification');
  const last = map[map.length - 1]!;
  const defs = affectedDefs(dom, flags);
  if (defs.config && last >= vcpusMax(defs.config))
    throw invalidArg(`vcpu ${last} is not present in persistent config`);
  if (defs.live && last >= vcpusMax(defs.live))
    throw invalidArg(`vcpu ${last} is not present in live config`);
  const on = state === 1;
  let targets: number[] | undefined;
  if (defs.live) {
    const entries = vcpuEntries(defs.live);
    // every vCPU is its own hotpluggable entity on x86 (QEMU's vcpus-count is 1 per slot). As
    // libvirt 9.0 tests `!vcpu->hotpluggable`, only an unset flag is refused here: a vCPU marked
    // not hotpluggable is refused later, when there is no device to unplug
    for (const i of map) {
      const e = entries.find((x) => Number(x.id) === i);
      if (!e) continue;
      const online = e.enabled !== 'no';
      if (online === on) throw invalidArg(`vcpu '${i}' is already in requested state`);
      if (online && e.hotpluggable === undefined) throw invalidArg(`vcpu '${i}' can't be hotunplugged`);
    }
    if (map.length !== 1)
      throw new VirError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        'Operation not supported: only one hotpluggable entity can be selected',
      );
    targets = map;
  }
  if (defs.config) validateVcpuConfig(defs.config, map);
  if (defs.live && targets) await setVcpusLive(dom, defs.live, targets, on);
  if (defs.config) {
    // qemuDomainSetVcpuConfig: every vCPU listed, the order forgotten, the chosen ones hotpluggable
    const config = copyDef(defs.config);
    const entries = vcpuEntries(config).map(({ order: _order, ...e }) => e);
    for (const i of map) {
      const e = entries.find((x) => Number(x.id) === i);
      if (e) Object.assign(e, { enabled: on ? 'yes' : 'no', hotpluggable: 'yes' });
    }
    (config as Record<string, unknown>).vcpus = { vcpu: entries };
    const v = (config.vcpu ??= {}) as VcpuSet;
    const now = entries.filter((e) => e.enabled === 'yes').length;
    v.current = now === vcpusMax(config) ? undefined : now;
    await dom.saveConfig(config);
  }
}

/** qemuDomainVcpuValidateConfig: vCPU 0 stays, and the non-hotpluggable online ones stay first. */
function validateVcpuConfig(def: DomainDef, map: number[]): void {
  if (map.includes(0)) throw invalidArg("vCPU '0' can't be modified");
  const first = map[0]!;
  const entries = vcpuEntries(def);
  for (let i = first + 1; i < vcpusMax(def); i++) {
    if (map.includes(i)) continue;
    const e = entries.find((x) => Number(x.id) === i);
    if (e && e.enabled !== 'no' && e.hotpluggable === 'no')
      throw invalidArg(
        `vcpu '${first}' can't be modified as it is followed by non-hotpluggable online vcpus`,
      );
  }
}
