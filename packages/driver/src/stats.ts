/**
 * Statistics of a domain as libvirt 9.0's QEMU driver reports them: virConnectGetAllDomainStats
 * (qemuDomainGetStats and its workers, one per group, in qemuDomainGetStatsWorkers' order),
 * virDomainGetCPUStats, virDomainGetBlockInfo and virDomainGetControlInfo (virDomainGetJobInfo is
 * domain-job.ts'; the scheduler and the other cgroup tunables are cgroup-tuning.ts').
 *
 * Where libvirt reads its per-domain cgroup, qvirt reads the cgroup v2 group QEMU runs in when
 * QEMU is alone in it (the domain's own), and answers as libvirt does without one otherwise.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { type DomainDef, VirError, virCheckFlags } from '@qvirt/core';
import {
  type BlockInfo,
  type ControlInfo,
  domainReasonNumber,
  type TypedParam,
  type TypedParamsReply,
  VIR_DOMAIN_STATS,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import { cpuMap, realHostFs } from '@qvirt/host-prober';
import { findDisk, gatherMemoryStats, MemoryStatTag, type StatsMonitor } from './domain-stats.js';
import { type LiveDomain, operationInvalid } from './live-domain.js';
import { interfaceStats } from './net-interfaces.js';
import { memoryOf } from './resources.js';
import { STATE_NUMBER } from './state.js';
import { vcpuOnline, vcpusCurrent, vcpusMax } from './vcpus.js';

const T = VIR_TYPED_PARAM;
const param = (field: string, type: number, value: number | boolean | string): TypedParam => ({
  field,
  type,
  value,
});
const TICK_NS = 1e9 / 100; // sysconf(_SC_CLK_TCK) is 100 on Linux

/** virProcessGetStatInfo: a process's (or thread's) user and system time, ns, and its last CPU. */
export function procTimes(
  pid: number,
  tid?: number,
): { cpu: number; user: number; sys: number; last: number } {
  const file = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const text = readFileSync(file, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(rest[n - 3]);
  const user = field(14) * TICK_NS;
  const sys = field(15) * TICK_NS;
  return { cpu: user + sys, user, sys, last: field(39) };
}

/** The cgroup v2 group of a running domain, when QEMU is alone in it (priv->cgroup). */
export function domainCgroup(pid: number | undefined): { dir: string; controllers: Set<string> } | undefined {
  if (pid === undefined) return undefined;
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    if (!line) return undefined;
    const dir = `/sys/fs/cgroup${line.slice(3)}`;
    const procs = readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean);
    if (procs.length !== 1 || Number(procs[0]) !== pid) return undefined;
    const controllers = new Set(readFileSync(`${dir}/cgroup.controllers`, 'utf8').trim().split(/\s+/));
    return { dir, controllers };
  } catch {
    return undefined;
  }
}

/** cpu.stat of a cgroup v2 group: usage, user and system time in ns (virCgroupV2GetCpuacct*). */
function cgroupCpuStat(dir: string): { cpu: number; user: number; sys: number } {
  const kv = new Map(
    readFileSync(`${dir}/cpu.stat`, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
  const us = (k: string) => Number(kv.get(k) ?? 0) * 1000;
  return { cpu: us('usage_usec'), user: us('user_usec'), sys: us('system_usec') };
}

/**
 * qemuDomainGetStatsCpu: the cgroup's figures, or the process's when there is no cgroup. A
 * stopped domain has pid 0, which virProcessGetStatInfo reads as /proc/self: libvirt 9.0 reports
 * the daemon's own CPU time there, and so does qvirt.
 */
async function statsCpu(dom: LiveDomain, out: TypedParam[]): Promise<void> {
  const cg = dom.active ? domainCgroup(dom.pid) : undefined;
  try {
    const t = cg
      ? cgroupCpuStat(cg.dir)
      : procTimes(dom.active && dom.pid !== undefined ? dom.pid : process.pid);
    out.push(
      param('cpu.time', T.ULLONG, t.cpu),
      param('cpu.user', T.ULLONG, t.user),
      param('cpu.system', T.ULLONG, t.sys),
    );
  } catch {
    // libvirt ignores a failed read
  }
  if (!dom.active) return;
  // qemuDomainGetStatsCpuCache: no resctrl monitors are defined
  out.push(param('cpu.cache.monitor.count', T.UINT, 0));
  // qemuDomainGetStatsCpuHaltPollTimeFromStats: KVM's figures summed over the vCPUs (none under TCG)
  try {
    type Stat = { stats: { name: string; value: number }[] };
    const r = await (await dom.monitor()).execute<Stat[]>('query-stats', {
      target: 'vcpu',
      providers: [{ provider: 'kvm', names: ['halt_poll_success_ns', 'halt_poll_fail_ns'] }],
    });
    let ok = 0;
    let fail = 0;
    for (const e of r) {
      const get = (n: string) => e.stats.find((x) => x.name === n)?.value;
      const a = get('halt_poll_success_ns');
      const b = get('halt_poll_fail_ns');
      if (a === undefined || b === undefined) return;
      ok += a;
      fail += b;
    }
    out.push(
      param('cpu.haltpoll.success.time', T.ULLONG, ok),
      param('cpu.haltpoll.fail.time', T.ULLONG, fail),
    );
  } catch {
    // QEMU without query-stats: nothing, as libvirt without the capability
  }
}

const BALLOON_NAMES: Record<number, string> = {
  [MemoryStatTag.SWAP_IN]: 'swap_in',
  [MemoryStatTag.SWAP_OUT]: 'swap_out',
  [MemoryStatTag.MAJOR_FAULT]: 'major_fault',
  [MemoryStatTag.MINOR_FAULT]: 'minor_fault',
  [MemoryStatTag.UNUSED]: 'unused',
  [MemoryStatTag.AVAILABLE]: 'available',
  [MemoryStatTag.RSS]: 'rss',
  [MemoryStatTag.LAST_UPDATE]: 'last-update',
  [MemoryStatTag.USABLE]: 'usable',
  [MemoryStatTag.DISK_CACHES]: 'disk_caches',
  [MemoryStatTag.HUGETLB_PGALLOC]: 'hugetlb_pgalloc',
  [MemoryStatTag.HUGETLB_PGFAIL]: 'hugetlb_pgfail',
};

function hasBalloon(def: DomainDef): boolean {
  const b = (def.devices as { memballoon?: { model?: string } } | undefined)?.memballoon;
  return b !== undefined && b.model !== 'none';
}

/** qemuDomainGetStatsBalloon. */
async function statsBalloon(dom: LiveDomain, def: DomainDef, out: TypedParam[]): Promise<void> {
  const { max, cur } = memoryOf(def);
  out.push(
    param('balloon.current', T.ULLONG, hasBalloon(def) ? cur : max),
    param('balloon.maximum', T.ULLONG, max),
  );
  if (!dom.active) return;
  let stats: { tag: number; val: number }[];
  try {
    stats = await gatherMemoryStats(def, await dom.monitor(), dom.pid);
  } catch {
    return;
  }
  for (const s of stats) {
    const name = BALLOON_NAMES[s.tag];
    if (name) out.push(param(`balloon.${name}`, T.ULLONG, s.val));
  }
}

/** Reads one field of /proc/PID/task/TID/sched or schedstat, 0 when the kernel has none. */
function schedWait(pid: number, tid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8');
    const m = /^(?:se\.statistics\.)?wait_sum\s*:\s*([\d.]+)/m.exec(text);
    return m ? Math.round(Number(m[1]) * 1e6) : 0;
  } catch {
    return 0;
  }
}
function schedDelay(pid: number, tid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1] ?? 0);
  } catch {
    return 0;
  }
}

/** qemuDomainGetStatsVcpu (no halted state and no KVM stats under x86 or TCG). */
async function statsVcpu(dom: LiveDomain, def: DomainDef, out: TypedParam[]): Promise<void> {
  out.push(param('vcpu.current', T.UINT, vcpusCurrent(def)), param('vcpu.maximum', T.UINT, vcpusMax(def)));
  if (!dom.active || dom.pid === undefined) return;
  let threads: { 'cpu-index': number; 'thread-id': number }[];
  try {
    threads = await (await dom.monitor()).execute('query-cpus-fast');
  } catch {
    return;
  }
  const online = vcpuOnline(def);
  for (let i = 0; i < online.length; i++) {
    if (!online[i]) continue;
    const tid = threads.find((t) => t['cpu-index'] === i)?.['thread-id'];
    if (tid === undefined) return;
    let time: number;
    try {
      time = procTimes(dom.pid, tid).cpu;
    } catch {
      return;
    }
    out.push(
      param(`vcpu.${i}.state`, T.INT, 1),
      param(`vcpu.${i}.time`, T.ULLONG, time),
      param(`vcpu.${i}.wait`, T.ULLONG, schedWait(dom.pid, tid)),
      param(`vcpu.${i}.delay`, T.ULLONG, schedDelay(dom.pid, tid)),
    );
  }
}

/** qemuDomainGetStatsInterface: the host side of each interface with a host device. */
function statsInterface(dom: LiveDomain, def: DomainDef, out: TypedParam[]): void {
  if (!dom.active) return;
  const nets = (def.devices?.interface ?? []) as { target?: { dev?: string } }[];
  out.push(param('net.count', T.UINT, nets.length));
  nets.forEach((net, i) => {
    const ifname = net.target?.dev;
    if (!ifname) return;
    out.push(param(`net.${i}.name`, T.STRING, ifname));
    let s: ReturnType<typeof interfaceStats>;
    try {
      s = interfaceStats(def, ifname);
    } catch {
      return;
    }
    const add = (name: string, v: number) => {
      if (v >= 0) out.push(param(`net.${i}.${name}`, T.ULLONG, v));
    };
    add('rx.bytes', s.rxBytes);
    add('rx.pkts', s.rxPackets);
    add('rx.errs', s.rxErrs);
    add('rx.drop', s.rxDrop);
    add('tx.bytes', s.txBytes);
    add('tx.pkts', s.txPackets);
    add('tx.errs', s.txErrs);
    add('tx.drop', s.txDrop);
  });
}

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

function diskPath(disk: Disk): string | undefined {
  const src = disk.source as { file?: string; dev?: string; dir?: string } | undefined;
  const type = disk.type ?? 'file';
  return type === 'file' ? src?.file : type === 'block' ? src?.dev : type === 'dir' ? src?.dir : undefined;
}

interface NodeFigures {
  counters?: Record<string, number>;
  highest?: number;
  capacity?: number;
  physical?: number;
}

/** Per frontend (qdev / QOM path) its counters, and per format node its size figures. */
async function blockFigures(
  mon: StatsMonitor,
): Promise<{ front: Map<string, NodeFigures>; node: Map<string, NodeFigures>; top: Map<string, string> }> {
  const front = new Map<string, NodeFigures>();
  const node = new Map<string, NodeFigures>();
  const top = new Map<string, string>();
  type Entry = { qdev?: string; 'node-name'?: string; stats?: Record<string, number> };
  for (const e of await mon.execute<Entry[]>('query-blockstats', { 'query-nodes': false })) {
    if (e.qdev) front.set(e.qdev, { counters: e.stats ?? {} });
  }
  for (const e of await mon.execute<Entry[]>('query-blockstats', { 'query-nodes': true })) {
    if (e['node-name']) node.set(e['node-name'], { highest: e.stats?.wr_highest_offset ?? 0 });
  }
  type Named = { 'node-name': string; image?: { 'virtual-size'?: number; 'actual-size'?: number } };
  for (const n of await mon.execute<Named[]>('query-named-block-nodes', { flat: true })) {
    const f = node.get(n['node-name']) ?? {};
    const cap = n.image?.['virtual-size'];
    if (cap !== undefined) {
      f.capacity = cap;
      f.physical = n.image?.['actual-size'] ?? cap;
    }
    node.set(n['node-name'], f);
  }
  type Block = { qdev?: string; inserted?: { 'node-name'?: string } };
  for (const b of await mon.execute<Block[]>('query-block')) {
    if (b.qdev && b.inserted?.['node-name']) top.set(b.qdev, b.inserted['node-name']);
  }
  return { front, node, top };
}

/** The QOM name of a disk's frontend (what query-blockstats calls `qdev`). */
function qomName(disk: Disk): string | undefined {
  const alias = (disk as { alias?: { name?: string } }).alias?.name;
  if (!alias) return undefined;
  const bus = disk.target?.bus;
  if (bus === 'virtio') return `/machine/peripheral/${alias}/virtio-backend`;
  if (bus === 'usb') return `/machine/peripheral/${alias}/${alias}.0/legacy[0]`;
  return alias;
}

/** qemuStorageLimitsRefresh for a stopped domain's local image: size, allocation, capacity. */
function fileLimits(
  file: string,
  format: string | undefined,
): { capacity: number; allocation: number; physical: number } | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    return undefined;
  }
  const physical = Number(st.size);
  let capacity = physical;
  if (format === 'qcow2') {
    // the virtual size is the big-endian 64-bit number at byte 24 of a qcow2 header
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(32);
      readSync(fd, buf, 0, 32, 0);
      capacity = Number(buf.readBigUInt64BE(24));
    } finally {
      closeSync(fd);
    }
  }
  return { capacity, allocation: Number(st.blocks) * 512, physical };
}

/** qemuDomainGetStatsBlock without backing chains. */
async function statsBlock(dom: LiveDomain, def: DomainDef, out: TypedParam[]): Promise<void> {
  const disks = def.devices?.disk ?? [];
  let figures: Awaited<ReturnType<typeof blockFigures>> | undefined;
  if (dom.active) {
    try {
      figures = await blockFigures(await dom.monitor());
    } catch {
      figures = undefined;
    }
  }
  out.push(param('block.count', T.UINT, disks.length));
  disks.forEach((disk, i) => {
    out.push(param(`block.${i}.name`, T.STRING, disk.target?.dev ?? ''));
    const path = diskPath(disk);
    if (path) out.push(param(`block.${i}.path`, T.STRING, path));
    if (!dom.active) {
      const format = (disk.driver as { type?: string } | undefined)?.type;
      const lim = path && (disk.type ?? 'file') === 'file' ? fileLimits(path, format) : undefined;
      if (lim) {
        if (lim.allocation) out.push(param(`block.${i}.allocation`, T.ULLONG, lim.allocation));
        if (lim.capacity) out.push(param(`block.${i}.capacity`, T.ULLONG, lim.capacity));
        if (lim.physical) out.push(param(`block.${i}.physical`, T.ULLONG, lim.physical));
      }
      return;
    }
    const q = qomName(disk);
    const c = q ? figures?.front.get(q)?.counters : undefined;
    if (c) {
      const v = (k: string) => Number(c[k] ?? 0);
      out.push(
        param(`block.${i}.rd.reqs`, T.ULLONG, v('rd_operations')),
        param(`block.${i}.rd.bytes`, T.ULLONG, v('rd_bytes')),
        param(`block.${i}.rd.times`, T.ULLONG, v('rd_total_time_ns')),
        param(`block.${i}.wr.reqs`, T.ULLONG, v('wr_operations')),
        param(`block.${i}.wr.bytes`, T.ULLONG, v('wr_bytes')),
        param(`block.${i}.wr.times`, T.ULLONG, v('wr_total_time_ns')),
        param(`block.${i}.fl.reqs`, T.ULLONG, v('flush_operations')),
        param(`block.${i}.fl.times`, T.ULLONG, v('flush_total_time_ns')),
      );
    }
    const nodeName = q ? figures?.top.get(q) : undefined;
    // the source's id (libvirt-N-format): its backingIndex
    const id = nodeName ? /^libvirt-(\d+)-/.exec(nodeName)?.[1] : undefined;
    if (id !== undefined)
      out.splice(out.length - (c ? 8 : 0), 0, param(`block.${i}.backingIndex`, T.UINT, Number(id)));
    const n = nodeName ? figures?.node.get(nodeName) : undefined;
    if (!n) return;
    out.push(param(`block.${i}.allocation`, T.ULLONG, n.highest ?? 0));
    if (n.capacity) out.push(param(`block.${i}.capacity`, T.ULLONG, n.capacity));
    if (n.physical) out.push(param(`block.${i}.physical`, T.ULLONG, n.physical));
  });
}

/** qemuDomainGetStatsIOThread (`query-iothreads`). */
async function statsIOThread(dom: LiveDomain, out: TypedParam[]): Promise<void> {
  if (!dom.active) return;
  type IOThread = { id: string; 'poll-max-ns'?: number; 'poll-grow'?: number; 'poll-shrink'?: number };
  let threads: IOThread[];
  try {
    threads = await (await dom.monitor()).execute('query-iothreads');
  } catch {
    return;
  }
  if (threads.length === 0) return;
  out.push(param('iothread.count', T.UINT, threads.length));
  for (const t of threads) {
    const id = Number(/(\d+)$/.exec(t.id)?.[1] ?? 0);
    if (t['poll-max-ns'] === undefined) continue;
    out.push(
      param(`iothread.${id}.poll-max-ns`, T.ULLONG, t['poll-max-ns']),
      param(`iothread.${id}.poll-grow`, T.UINT, t['poll-grow'] ?? 0),
      param(`iothread.${id}.poll-shrink`, T.UINT, t['poll-shrink'] ?? 0),
    );
  }
}

const DIRTYRATE_STATUS: Record<string, number> = { unstarted: 0, measuring: 1, measured: 2 };

/** qemuDomainGetStatsDirtyRate (`query-dirty-rate`). */
async function statsDirtyRate(dom: LiveDomain, out: TypedParam[]): Promise<void> {
  if (!dom.active) return;
  type Rate = {
    status: string;
    'start-time': number;
    'calc-time': number;
    mode?: string;
    'dirty-rate'?: number;
    'vcpu-dirty-rate'?: { id: number; 'dirty-rate': number }[];
  };
  const r = await (await dom.monitor()).execute<Rate>('query-dirty-rate');
  const status = DIRTYRATE_STATUS[r.status] ?? 0;
  const mode = r.mode ?? 'page-sampling';
  out.push(
    param('dirtyrate.calc_status', T.INT, status),
    param('dirtyrate.calc_start_time', T.LLONG, r['start-time']),
    param('dirtyrate.calc_period', T.INT, r['calc-time']),
    param('dirtyrate.calc_mode', T.STRING, mode),
  );
  if (status === 2) {
    out.push(param('dirtyrate.megabytes_per_second', T.LLONG, r['dirty-rate'] ?? 0));
    if (mode === 'dirty-ring') {
      for (const v of r['vcpu-dirty-rate'] ?? []) {
        out.push(param(`dirtyrate.vcpu.${v.id}.megabytes_per_second`, T.ULLONG, v['dirty-rate']));
      }
    }
  }
}

/** Every group libvirt 9.0 knows (qemuDomainGetStatsWorkers). */
export const SUPPORTED_STATS = Object.values(VIR_DOMAIN_STATS).reduce((a, b) => a | b, 0);

/**
 * qemuDomainGetStats: one domain's record for the groups in `stats`. PERF (no perf events are
 * enabled), MEMORY (no resctrl monitors) and VM (QEMU gives VM statistics for KVM only) add
 * nothing here, as with libvirt in the same conditions.
 */
export async function domainStatsRecord(
  dom: LiveDomain,
  stats: number,
  /** qemuDomainGetStatsPerf: the enabled perf counters (perf-events.ts). */
  perf?: (dom: LiveDomain) => TypedParam[],
): Promise<TypedParam[]> {
  const S = VIR_DOMAIN_STATS;
  const def = dom.live ?? dom.config;
  const out: TypedParam[] = [];
  if (stats & S.STATE) {
    out.push(
      param('state.state', T.INT, STATE_NUMBER[dom.state]),
      param('state.reason', T.INT, domainReasonNumber(dom.state, dom.reason)),
    );
  }
  if (stats & S.CPU_TOTAL) await statsCpu(dom, out);
  if (stats & S.BALLOON) await statsBalloon(dom, def, out);
  if (stats & S.VCPU) await statsVcpu(dom, def, out);
  if (stats & S.INTERFACE) statsInterface(dom, def, out);
  if (stats & S.BLOCK) await statsBlock(dom, def, out);
  if (stats & S.PERF && perf) out.push(...perf(dom));
  if (stats & S.IOTHREAD) await statsIOThread(dom, out);
  if (stats & S.DIRTYRATE) await statsDirtyRate(dom, out);
  return out;
}

/** qemuDomainGetStatsCheckSupport: 0 is every group; unknown bits refused with ENFORCE. */
export function checkStatsSupport(stats: number, enforce: boolean): number {
  if (stats === 0) return SUPPORTED_STATS;
  const unsupported = (stats >>> 0) & ~SUPPORTED_STATS;
  if (enforce && unsupported) {
    throw new VirError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      `Operation not supported: Stats types bits 0x${unsupported.toString(16)} are not supported by this daemon`,
    );
  }
  return stats & SUPPORTED_STATS;
}

/** qemuDomainGetCPUStats: the total from the domain's cgroup; per-CPU figures cgroup v2 does not keep. */
export function getCPUStats(
  dom: LiveDomain,
  nparams: number,
  startCpu: number,
  ncpus: number,
  flags: number,
): TypedParamsReply {
  virCheckFlags(flags, VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainGetCPUStats');
  if (!dom.active) throw operationInvalid('domain is not running');
  const cg = domainCgroup(dom.pid);
  if (!cg?.controllers.has('cpu')) throw operationInvalid('cgroup CPUACCT controller is not mounted');
  if (startCpu === -1) {
    // virCgroupGetDomainTotalCpuStats
    if (nparams === 0) return { params: [], nparams: 3 };
    const t = cgroupCpuStat(cg.dir);
    const all = [
      param('cpu_time', T.ULLONG, t.cpu),
      param('user_time', T.ULLONG, t.user),
      param('system_time', T.ULLONG, t.sys),
    ].slice(0, nparams);
    return { params: all, nparams: all.length };
  }
  // virCgroupGetPercpuStats: how many figures per CPU (cpu_time, vcpu_time), how many CPUs
  if (nparams === 0 && ncpus !== 0) return { params: [], nparams: 2 };
  if (ncpus === 0) return { params: [], nparams: cpuMap(realHostFs()).cpus };
  // cgroup v2 keeps no per-CPU usage
  throw new VirError(
    'OPERATION_UNSUPPORTED',
    'cgroup',
    "Operation not supported: operation 'getCpuacctPercpuUsage' not supported for backend 'cgroup V2'",
  );
}

/** qemuDomainGetBlockInfo. */
export async function getBlockInfo(dom: LiveDomain, path: string, flags: number): Promise<BlockInfo> {
  virCheckFlags(flags, 0, 'qemuDomainGetBlockInfo');
  const def = dom.live ?? dom.config;
  const disk = findDisk(def, path);
  if (!disk)
    throw new VirError(
      'INVALID_ARG',
      'qemu',
      `invalid argument: invalid path ${path} not assigned to domain`,
    );
  if (disk.type === 'vhostuser') {
    throw new VirError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      'Operation not supported: block info is not supported for vhostuser disk',
    );
  }
  const file = diskPath(disk);
  if (!file) {
    throw new VirError(
      'INVALID_ARG',
      'qemu',
      `invalid argument: disk '${path}' does not currently have a source assigned`,
    );
  }
  const format = (disk.driver as { type?: string } | undefined)?.type;
  const onDisk = fileLimits(file, format);
  if (!dom.active) {
    if (!onDisk)
      throw new VirError('SYSTEM_ERROR', 'qemu', `cannot stat file '${file}': No such file or directory`);
    return onDisk;
  }
  const figures = await blockFigures(await dom.monitor());
  const q = qomName(disk);
  const nodeName = q ? figures.top.get(q) : undefined;
  const entry = nodeName ? figures.node.get(nodeName) : undefined;
  if (!entry)
    throw new VirError('INTERNAL_ERROR', 'qemu', `internal error: cannot find statistics for device '${q}'`);
  const physicalQ = entry.physical ?? 0;
  let allocation = format === 'qcow2' && (disk.type ?? 'file') === 'file' ? physicalQ : (entry.highest ?? 0);
  let physical: number;
  if (physicalQ === 0 || allocation === 0 || allocation === physicalQ) {
    if (allocation === 0) allocation = physicalQ;
    // qemuDomainStorageUpdatePhysical: the file's size
    physical = onDisk?.physical ?? physicalQ;
  } else physical = physicalQ;
  return { allocation, capacity: entry.capacity ?? 0, physical };
}

/** qemuDomainGetControlInfo: the monitor is free between calls (VIR_DOMAIN_CONTROL_OK). */
export function getControlInfo(dom: LiveDomain, flags: number): ControlInfo {
  virCheckFlags(flags, 0, 'qemuDomainGetControlInfo');
  if (!dom.active) throw operationInvalid('domain is not running');
  return { state: 0, details: 0, stateTime: 0 };
}
