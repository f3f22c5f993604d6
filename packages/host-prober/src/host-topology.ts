/**
 * The host's CPUs, memory and NUMA cells as libvirt 9.0 reads them on Linux: virHostCPUGetInfo
 * (`virsh nodeinfo`, the `<topology>` of the host CPU), virCapabilitiesHostNUMANewHost (the
 * `<topology><cells>` of `virsh capabilities`), virNumaGetPages (page sizes and pools),
 * virCapabilitiesInitCaches (`<cache>` banks), virHostHasIOMMU, virHostMemGetInfo /
 * virHostMemGetCellsFree / virHostMemGetStats and virHostCPUGetStats / virHostCPUGetMap.
 * Everything is read through a `HostFs`, so a recording of another host gives that host's answers.
 */
import type { HostFs } from './host-fs.js';

const SYS = '/sys/devices/system';
/** sysconf(_SC_PAGESIZE) in KiB on the arches qvirt runs on. */
const SYSTEM_PAGE_KIB = 4;
/** sysconf(_SC_CLK_TCK) on Linux. */
const CLK_TCK = 100;

/** virBitmapParse of a sysfs list (`0-3,8`). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** virBitmapFormat: ascending ranges, `0-1,4`. */
export function formatCpuList(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** virFileReadValueInt: the file's number, `undefined` when the file is absent. */
function readInt(fs: HostFs, path: string): number | undefined {
  const t = fs.read(path);
  if (t === undefined) return undefined;
  const n = Number.parseInt(t.trim(), 10);
  return Number.isNaN(n) ? undefined : n;
}

const cpuDir = (cpu: number) => `${SYS}/cpu/cpu${cpu}`;

/** virHostCPUGetSocket: physical_package_id, 0 when absent or negative. */
export function cpuSocket(fs: HostFs, cpu: number): number {
  return Math.max(0, readInt(fs, `${cpuDir(cpu)}/topology/physical_package_id`) ?? 0);
}
/** virHostCPUGetDie. */
export function cpuDie(fs: HostFs, cpu: number): number {
  return Math.max(0, readInt(fs, `${cpuDir(cpu)}/topology/die_id`) ?? 0);
}
/** virHostCPUGetCore. */
export function cpuCore(fs: HostFs, cpu: number): number {
  return readInt(fs, `${cpuDir(cpu)}/topology/core_id`) ?? 0;
}
/** virHostCPUGetSiblingsList: thread_siblings_list, the CPU alone when absent. */
export function cpuSiblings(fs: HostFs, cpu: number): number[] {
  const t = fs.read(`${cpuDir(cpu)}/topology/thread_siblings_list`);
  return t === undefined ? [cpu] : parseCpuList(t);
}

function bitmapFile(fs: HostFs, path: string): number[] | undefined {
  const t = fs.read(path);
  return t === undefined ? undefined : parseCpuList(t);
}

/** /sys/devices/system/cpu/present, /online (virHostCPUGetPresentBitmap, ...OnlineBitmap). */
export function presentCpus(fs: HostFs): number[] {
  return bitmapFile(fs, `${SYS}/cpu/present`) ?? [];
}
export function onlineCpus(fs: HostFs): number[] {
  return bitmapFile(fs, `${SYS}/cpu/online`) ?? [];
}

/** virNumaIsAvailable + virNumaGetMaxNode: the node folders libnuma sees, ascending. */
export function numaNodeIds(fs: HostFs): number[] {
  return (fs.list(`${SYS}/node`) ?? [])
    .map((d) => /^node(\d+)$/.exec(d)?.[1])
    .filter((d): d is string => d !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** virNumaGetNodeMemory: MemTotal and MemFree of a node, in bytes. */
export function numaNodeMemory(fs: HostFs, node: number): { total: number; free: number } | undefined {
  const text = fs.read(`${SYS}/node/node${node}/meminfo`);
  if (text === undefined) return undefined;
  const field = (name: string) =>
    Number(new RegExp(`\\b${name}:\\s*(\\d+)\\s*kB`).exec(text)?.[1] ?? 0) * 1024;
  return { total: field('MemTotal'), free: field('MemFree') };
}

/** /proc/meminfo fields in KiB. */
function procMeminfo(fs: HostFs): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (fs.read('/proc/meminfo') ?? '').split('\n')) {
    const m = /^(\S+):\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** virHostMemGetInfo: total and free memory in bytes (the NUMA nodes summed when there are any). */
export function hostMemory(fs: HostFs): { total: number; free: number } {
  const nodes = numaNodeIds(fs);
  if (nodes.length === 0) {
    const m = procMeminfo(fs);
    // virHostMemGetInfoFake: sysconf's physical and free pages
    return { total: (m.MemTotal ?? 0) * 1024, free: (m.MemFree ?? 0) * 1024 };
  }
  let total = 0;
  let free = 0;
  for (const n of nodes) {
    const m = numaNodeMemory(fs, n);
    total += m?.total ?? 0;
    free += m?.free ?? 0;
  }
  return { total, free };
}

export interface NodeInfo {
  /** The host arch name (virArchToString). */
  model: string;
  /** Memory in KiB. */
  memory: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

/**
 * virHostCPUParseFrequency: the integer part of the last frequency line of /proc/cpuinfo (every
 * matching line overwrites the one before); ARM and arches without a known line give 0.
 */
export function cpuMhz(fs: HostFs, arch: string): number {
  const prefix =
    arch === 'x86_64' || arch === 'i686'
      ? 'cpu MHz'
      : arch.startsWith('ppc')
        ? 'clock'
        : arch.startsWith('s390')
          ? 'cpu MHz dynamic'
          : undefined;
  if (!prefix) return 0;
  let mhz = 0;
  for (const line of (fs.read('/proc/cpuinfo') ?? '').split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /^\s*:\s*(\d+)(?:[.\s]|$)/.exec(line.slice(prefix.length));
    if (m) mhz = Number(m[1]);
  }
  return mhz;
}

/** virHostCPUParseNode: CPUs, sockets, cores per socket, threads per core of one node folder. */
function parseNode(
  fs: HostFs,
  dir: string,
  arch: string,
  present: Set<number>,
  online: Set<number>,
  threadsPerSubcore: number,
): { cpus: number; sockets: number; cores: number; threads: number; offline: number } {
  const nodeCpus: number[] = [];
  const sockets = new Set<number>();
  for (const ent of fs.list(dir) ?? []) {
    const m = /^cpu(\d+)/.exec(ent);
    if (!m) continue;
    const cpu = Number(m[1]);
    if (!present.has(cpu)) continue;
    nodeCpus.push(cpu);
    if (online.has(cpu)) sockets.add(cpuSocket(fs, cpu));
  }
  nodeCpus.sort((a, b) => a - b);
  const cores = new Map<number, Set<number>>();
  let processors = 0;
  let offline = 0;
  let threads = 0;
  for (const cpu of nodeCpus) {
    if (!online.has(cpu)) {
      // with subcores (POWER), an offline secondary thread of an online primary is in use by KVM
      const tps = threadsPerSubcore;
      if (tps > 0 && cpu % tps !== 0 && online.has(cpu - (cpu % tps))) processors++;
      else offline++;
      continue;
    }
    processors++;
    const sock = cpuSocket(fs, cpu);
    const set = cores.get(sock) ?? new Set<number>();
    // a logical CPU is a core on s390
    set.add(arch.startsWith('s390') ? cpu : cpuCore(fs, cpu));
    cores.set(sock, set);
    threads = Math.max(threads, cpuSiblings(fs, cpu).length);
  }
  let coresMax = 0;
  for (const s of sockets) coresMax = Math.max(coresMax, cores.get(s)?.size ?? 0);
  // only the primary threads were counted: with subcores each stands for threadsPerSubcore
  if (threadsPerSubcore > 0) threads *= threadsPerSubcore;
  return { cpus: processors, sockets: sockets.size, cores: coresMax, threads, offline };
}

/**
 * virNodeGetInfo / virHostCPUGetInfo (Linux): what `virsh nodeinfo` prints. `threadsPerSubcore`
 * is virHostCPUGetThreadsPerSubcore, KVM's SMT mode on POWER hosts (0 elsewhere); it only counts
 * when no secondary thread is online (virHostCPUHasValidSubcoreConfiguration).
 */
export function hostNodeInfo(fs: HostFs, arch: string, threadsPerSubcore = 0): NodeInfo {
  const present = new Set(presentCpus(fs));
  const online = new Set(onlineCpus(fs));
  const tps =
    threadsPerSubcore > 0 && [...online].every((cpu) => cpu % threadsPerSubcore === 0)
      ? threadsPerSubcore
      : 0;
  let cpus = 0;
  let nodes = 0;
  let sockets = 0;
  let cores = 0;
  let threads = 0;
  let offline = 0;
  const nodeDirs = (fs.list(`${SYS}/node`) ?? []).filter((d) => /^node\d+/.test(d));
  for (const d of nodeDirs) {
    nodes++;
    const r = parseNode(fs, `${SYS}/node/${d}`, arch, present, online, tps);
    cpus += r.cpus;
    offline += r.offline;
    sockets = Math.max(sockets, r.sockets);
    cores = Math.max(cores, r.cores);
    threads = Math.max(threads, r.threads);
  }
  if (!(cpus && nodes)) {
    const r = parseNode(fs, `${SYS}/cpu`, arch, present, online, tps);
    nodes = 1;
    ({ cpus, sockets, cores, threads, offline } = r);
  }
  // a topology that does not multiply out is reported flat (virHostCPUGetInfoPopulateLinux)
  if (nodes * sockets * cores * threads !== cpus + offline) {
    nodes = 1;
    sockets = 1;
    cores = cpus + offline;
    threads = 1;
  }
  return {
    model: arch,
    memory: Math.floor(hostMemory(fs).total / 1024),
    cpus,
    mhz: cpuMhz(fs, arch),
    nodes,
    sockets,
    cores,
    threads,
  };
}

export interface PageInfo {
  /** Page size in KiB. */
  size: number;
  /** Pages in the pool (for the system page size: memory not taken by huge pages). */
  avail: number;
  free: number;
}

/** virNumaGetPages: huge page pools of a node (-1: the whole host) plus the system pages, by size. */
export function hostPages(fs: HostFs, node: number): PageInfo[] {
  const dir = node === -1 ? '/sys/kernel/mm/hugepages' : `${SYS}/node/node${node}/hugepages`;
  const out: PageInfo[] = [];
  let hugeSum = 0;
  for (const ent of fs.list(dir) ?? []) {
    const m = /^hugepages-(\d+)kB$/i.exec(ent);
    if (!m) continue;
    const size = Number(m[1]);
    const avail = readInt(fs, `${dir}/${ent}/nr_hugepages`) ?? 0;
    const free = readInt(fs, `${dir}/${ent}/free_hugepages`) ?? 0;
    out.push({ size, avail, free });
    hugeSum += 1024 * size * avail;
  }
  const mem = node === -1 ? hostMemory(fs) : (numaNodeMemory(fs, node) ?? { total: 0, free: 0 });
  const bytes = SYSTEM_PAGE_KIB * 1024;
  out.push({
    size: SYSTEM_PAGE_KIB,
    avail: Math.floor((mem.total - hugeSum) / bytes),
    free: Math.floor(mem.free / bytes),
  });
  return out.sort((a, b) => a.size - b.size);
}

export interface HostCellCpu {
  id: number;
  socketId: number;
  dieId: number;
  coreId: number;
  siblings: number[];
}

export interface HostCell {
  id: number;
  /** KiB; 0 leaves `<memory>` out. */
  memory: number;
  pages: PageInfo[];
  distances: { id: number; value: number }[];
  cpus: HostCellCpu[];
}

function cellCpu(fs: HostFs, id: number): HostCellCpu {
  return {
    id,
    socketId: cpuSocket(fs, id),
    dieId: cpuDie(fs, id),
    coreId: cpuCore(fs, id),
    siblings: cpuSiblings(fs, id),
  };
}

/**
 * virCapabilitiesHostNUMANewHost: one cell per NUMA node with its memory, page pools, distances
 * and CPUs; without NUMA one fake cell built from the node info.
 */
export function hostNumaCells(fs: HostFs, arch: string): HostCell[] {
  const ids = numaNodeIds(fs);
  if (ids.length > 0) {
    const max = ids[ids.length - 1]!;
    return ids.map((n) => {
      const cpus = parseCpuList(fs.read(`${SYS}/node/node${n}/cpulist`) ?? '');
      const dist = (fs.read(`${SYS}/node/node${n}/distance`) ?? '').trim().split(/\s+/).map(Number);
      const distances: HostCell['distances'] = [];
      for (let i = 0; i <= max; i++) {
        const v = dist[i];
        if (v) distances.push({ id: i, value: v });
      }
      return {
        id: n,
        memory: Math.floor((numaNodeMemory(fs, n)?.total ?? 0) / 1024),
        pages: hostPages(fs, n),
        distances,
        cpus: cpus.map((c) => cellCpu(fs, c)),
      };
    });
  }
  // virCapabilitiesHostNUMAInitFake
  const info = hostNodeInfo(fs, arch);
  const online = new Set(onlineCpus(fs));
  const cpus: HostCellCpu[] = [];
  let id = 0;
  for (let s = 0; s < info.sockets; s++) {
    for (let c = 0; c < info.cores; c++) {
      const siblings = Array.from({ length: info.threads }, (_, t) => id + t);
      for (let t = 0; t < info.threads; t++, id++) {
        if (online.size === 0 || online.has(id))
          cpus.push({ id, socketId: s, dieId: 0, coreId: c, siblings });
      }
    }
  }
  return [{ id: 0, memory: info.memory, pages: [], distances: [], cpus }];
}

export interface CacheBank {
  id: number;
  level: number;
  type: 'both' | 'code' | 'data';
  /** Bytes. */
  size: number;
  cpus: number[];
}

/** virFileReadValueScaledInt: `49152K` in bytes. */
function scaled(text: string): number | undefined {
  const m = /^(\d+)\s*([KMG]?)/i.exec(text.trim());
  if (!m) return undefined;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}

/** virCapabilitiesInitCaches: level-3-and-up caches of the online CPUs, one bank per distinct one. */
export function hostCacheBanks(fs: HostFs): CacheBank[] {
  const banks: CacheBank[] = [];
  const kinds: Record<string, CacheBank['type']> = { Unified: 'both', Instruction: 'code', Data: 'data' };
  for (const cpu of onlineCpus(fs)) {
    const dir = `${cpuDir(cpu)}/cache`;
    for (const ent of fs.list(dir) ?? []) {
      if (!ent.startsWith('index')) continue;
      const level = readInt(fs, `${dir}/${ent}/level`);
      if (level === undefined || level < 3) continue;
      const id = readInt(fs, `${dir}/${ent}/id`);
      const typeText = fs.read(`${dir}/${ent}/type`)?.trim();
      const sizeText = fs.read(`${dir}/${ent}/size`);
      const shared = fs.read(`${dir}/${ent}/shared_cpu_list`);
      if (id === undefined || typeText === undefined || sizeText === undefined || shared === undefined)
        continue;
      const type = kinds[typeText];
      const size = scaled(sizeText);
      if (!type || size === undefined) continue;
      const bank: CacheBank = { id, level, type, size, cpus: parseCpuList(shared) };
      const same = (b: CacheBank) =>
        b.id === bank.id &&
        b.level === bank.level &&
        b.type === bank.type &&
        b.size === bank.size &&
        formatCpuList(b.cpus) === formatCpuList(bank.cpus);
      if (!banks.some(same)) banks.push(bank);
    }
  }
  return banks.sort((a, b) => a.level - b.level || a.id - b.id);
}

/** virFormatIntPretty: the largest binary unit the value is a whole multiple of. */
export function prettySize(bytes: number): { value: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let i = 0;
  while (i < units.length - 1 && value !== 0 && value % 1024 === 0) {
    value /= 1024;
    i++;
  }
  return { value, unit: units[i]! };
}

/** virHostHasIOMMU: /sys/kernel/iommu_groups has an entry. */
export function hostHasIommu(fs: HostFs): boolean {
  return (fs.list('/sys/kernel/iommu_groups') ?? []).length > 0;
}

/** virHostMemGetCellsFree: free bytes of cells `start`..`start+max-1` (clipped to the last). */
export function cellsFreeMemory(fs: HostFs, start: number, max: number): number[] | { error: string } {
  const ids = numaNodeIds(fs);
  if (ids.length === 0) {
    if (start !== 0) return { error: `start cell ${start} out of range (0-0)` };
    const m = procMeminfo(fs);
    return [(m.MemFree ?? 0) * 1024];
  }
  const maxCell = ids[ids.length - 1]!;
  if (start > maxCell) return { error: `start cell ${start} out of range (0-${maxCell})` };
  const last = Math.min(start + max - 1, maxCell);
  const out: number[] = [];
  for (let n = start; n <= last; n++) out.push(numaNodeMemory(fs, n)?.free ?? 0);
  return out;
}

/** virHostMemGetStats: MemTotal/MemFree(/Buffers/Cached) in KiB of the host (-1) or a cell. */
export function memoryStats(
  fs: HostFs,
  cell: number,
): { field: string; value: number }[] | { error: 'cell' | 'open'; max?: number; path?: string } {
  const nodes = numaNodeIds(fs);
  if (nodes.length === 0 && cell === 0) cell = -1;
  let path = '/proc/meminfo';
  if (cell !== -1) {
    const max = nodes.length ? nodes[nodes.length - 1]! : -1;
    if (cell > max) return { error: 'cell', max };
    path = `${SYS}/node/node${cell}/meminfo`;
  }
  const text = fs.read(path);
  if (text === undefined) return { error: 'open', path };
  const conv: [string, string][] = [
    ['MemTotal:', 'total'],
    ['MemFree:', 'free'],
    ['Buffers:', 'buffers'],
    ['Cached:', 'cached'],
  ];
  const want = cell === -1 ? 4 : 2;
  const out: { field: string; value: number }[] = [];
  for (let line of text.split('\n')) {
    if (line.startsWith('Node ')) line = line.replace(/^Node \S+ /, '');
    const m = /^(\S+)\s+(\d+) kB/.exec(line);
    if (!m) continue;
    const f = conv.find(([h]) => h === m[1]);
    if (f) out.push({ field: f[1], value: Number(m[2]) });
    if (out.length >= want) break;
  }
  return out;
}

/** virHostCPUGetStatsLinux: kernel/user/idle/iowait nanoseconds of all CPUs (-1) or one. */
export function cpuStats(fs: HostFs, cpu: number): { field: string; value: bigint }[] | undefined {
  const header = cpu === -1 ? 'cpu ' : `cpu${cpu} `;
  const ns = BigInt(1_000_000_000 / CLK_TCK);
  for (const line of (fs.read('/proc/stat') ?? '').split('\n')) {
    if (!line.startsWith(header)) continue;
    const v = line.trim().split(/\s+/).slice(1).map(BigInt);
    if (v.length < 4) continue;
    const [usr = 0n, ni = 0n, sys = 0n, idle = 0n, iowait = 0n, irq = 0n, softirq = 0n] = v;
    return [
      { field: 'kernel', value: (sys + irq + softirq) * ns },
      { field: 'user', value: (usr + ni) * ns },
      { field: 'idle', value: idle * ns },
      { field: 'iowait', value: iowait * ns },
    ];
  }
  return undefined;
}

/** virHostCPUGetMap: the present CPU count (highest id + 1) and which are online. */
export function cpuMap(fs: HostFs): { cpus: number; online: number[] } {
  const present = presentCpus(fs);
  const cpus = present.length ? present[present.length - 1]! + 1 : 0;
  return { cpus, online: onlineCpus(fs).filter((c) => c < cpus) };
}

/** virHostMemGetParameters' KSM knobs: libvirt's name, the sysfs file, and whether it is 32-bit. */
const KSM_PARAMETERS: [string, string, boolean][] = [
  ['shm_pages_to_scan', 'pages_to_scan', true],
  ['shm_sleep_millisecs', 'sleep_millisecs', true],
  ['shm_pages_shared', 'pages_shared', false],
  ['shm_pages_sharing', 'pages_sharing', false],
  ['shm_pages_unshared', 'pages_unshared', false],
  ['shm_pages_volatile', 'pages_volatile', false],
  ['shm_full_scans', 'full_scans', false],
  ['shm_merge_across_nodes', 'merge_across_nodes', true],
];

/** How many memory parameters libvirt knows (NODE_MEMORY_PARAMETERS_NUM). */
export const NODE_MEMORY_PARAMETERS_NUM = KSM_PARAMETERS.length;

/**
 * virHostMemGetParameters: the first `n` KSM parameters from /sys/kernel/mm/ksm (a file the kernel
 * lacks leaves its parameter out, as libvirt's sparse answer does once serialised).
 */
export function memoryParameters(fs: HostFs, n: number): { field: string; uint: boolean; value: number }[] {
  const out: { field: string; uint: boolean; value: number }[] = [];
  for (const [field, file, uint] of KSM_PARAMETERS.slice(0, Math.max(0, n))) {
    const v = readInt(fs, `/sys/kernel/mm/ksm/${file}`);
    if (v !== undefined) out.push({ field, uint, value: v });
  }
  return out;
}
