/**
 * Block and memory statistics of a running domain, as libvirt 9.0's QEMU driver gathers them:
 * virDomainBlockStats / virDomainBlockStatsFlags from `query-blockstats`
 * (qemuDomainBlocksStatsGather, qemuMonitorJSONGetAllBlockStatsInfo) and virDomainMemoryStats
 * from the balloon (`query-balloon`, `qom-get … guest-stats`: qemuMonitorJSONGetMemoryStats) plus
 * the QEMU process's resident set (qemuDomainMemoryStatsInternal).
 *
 * The caller holds the domain's job and hands over the monitor; nothing here keeps state.
 */
import { readFileSync } from 'node:fs';
import { type DomainDef, virReportError } from '@qvirt/core';
import { QmpCommandError } from './qmp.js';

/** What the functions here need of a QMP connection. */
export interface StatsMonitor {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
}

/** qemuBlockStats: one disk's counters, or every disk's summed. */
export interface BlockStats {
  rdReq: number;
  rdBytes: number;
  wrReq: number;
  wrBytes: number;
  /** QEMU does not count errors: always -1 (qemuDomainBlockStats). */
  errs: number;
  flushReq: number;
  rdTotalTimes: number;
  wrTotalTimes: number;
  flushTotalTimes: number;
  /**
   * How many counters QEMU reports for a device (the most any entry has): what
   * virDomainBlockStatsFlags answers when asked with nparams = 0.
   */
  nstats: number;
}

/** A typed parameter of virDomainBlockStatsFlags (all VIR_TYPED_PARAM_LLONG). */
export interface BlockStatsParam {
  field: string;
  value: number;
}

/**
 * virDomainBlockStatsFlags' parameters in libvirt's order (QEMU_BLOCK_STATS_ASSIGN_PARAM), at
 * most `nparams` of them.
 */
export function blockStatsParams(stats: BlockStats, nparams = stats.nstats): BlockStatsParam[] {
  const all: BlockStatsParam[] = [
    { field: 'wr_bytes', value: stats.wrBytes },
    { field: 'wr_operations', value: stats.wrReq },
    { field: 'rd_bytes', value: stats.rdBytes },
    { field: 'rd_operations', value: stats.rdReq },
    { field: 'flush_operations', value: stats.flushReq },
    { field: 'wr_total_times', value: stats.wrTotalTimes },
    { field: 'rd_total_times', value: stats.rdTotalTimes },
    { field: 'flush_total_times', value: stats.flushTotalTimes },
  ];
  return all.slice(0, Math.max(0, nparams));
}

/** virDomainMemoryStatTags. */
export const MemoryStatTag = {
  SWAP_IN: 0,
  SWAP_OUT: 1,
  MAJOR_FAULT: 2,
  MINOR_FAULT: 3,
  UNUSED: 4,
  AVAILABLE: 5,
  ACTUAL_BALLOON: 6,
  RSS: 7,
  USABLE: 8,
  LAST_UPDATE: 9,
  DISK_CACHES: 10,
  HUGETLB_PGALLOC: 11,
  HUGETLB_PGFAIL: 12,
} as const;

/** One virDomainMemoryStatStruct: a tag and its value (KiB for sizes). */
export interface MemoryStat {
  tag: number;
  val: number;
}

interface QmpBlockStatsEntry {
  device?: string;
  qdev?: string;
  'node-name'?: string;
  stats?: Record<string, unknown>;
  backing?: QmpBlockStatsEntry;
}

type Counters = Omit<BlockStats, 'errs' | 'nstats'>;

const internal = (msg: string) => virReportError('INTERNAL_ERROR', 'qemu', msg);

/** qemuMonitorJSONBlockStatsCollectData: the counters of one entry and how many QEMU gave. */
function collect(entry: QmpBlockStatsEntry): { counters: Counters; n: number } {
  const stats = entry.stats;
  if (!stats || typeof stats !== 'object')
    throw internal('blockstats stats entry was not in expected format');
  let n = 0;
  const get = (name: string, mandatory: boolean): number => {
    if (!mandatory && !(name in stats)) return 0;
    n++;
    const v = stats[name];
    if (typeof v !== 'number' || v < 0) throw internal(`cannot read ${name} statistic`);
    return v;
  };
  const counters: Counters = {
    rdBytes: get('rd_bytes', true),
    wrBytes: get('wr_bytes', true),
    rdReq: get('rd_operations', true),
    wrReq: get('wr_operations', true),
    rdTotalTimes: get('rd_total_time_ns', false),
    wrTotalTimes: get('wr_total_time_ns', false),
    flushReq: get('flush_operations', false),
    flushTotalTimes: get('flush_total_time_ns', false),
  };
  return { counters, n };
}

/**
 * qemuMonitorJSONGetAllBlockStatsInfo: every entry of `query-blockstats` (devices, then nodes)
 * keyed as libvirt keys them: the disk alias from the drive name (`-drive` era, `.N` for backing
 * layers), the
 * qdev id or QOM path (`-blockdev`), the node name.
 */
async function allBlockStats(mon: StatsMonitor): Promise<{ table: Map<string, Counters>; nstats: number }> {
  const table = new Map<string, Counters>();
  let nstats = 0;
  const devices = await mon.execute<QmpBlockStatsEntry[]>('query-blockstats', { 'query-nodes': false });
  for (const dev of devices) {
    // qemuDomainStorageAlias: the drive name without its "drive-" prefix (qemuAliasDiskDriveSkipPrefix)
    const name = dev.device ? dev.device.replace(/^drive-/, '') : undefined;
    // qemuMonitorJSONGetOneBlockStatsInfo, down the backing chain
    for (let e: QmpBlockStatsEntry | undefined = dev, depth = 0; e; e = e.backing, depth++) {
      const devName = name === undefined ? undefined : depth === 0 ? name : `${name}.${depth}`;
      if (!devName && !e.qdev && !e['node-name'])
        throw internal('blockstats device entry was not in expected format');
      const { counters, n } = collect(e);
      if (devName) table.set(devName, counters);
      if (e.qdev && e.qdev !== devName) table.set(e.qdev, counters);
      if (e['node-name']) table.set(e['node-name'], counters);
      // only the top layer's count counts (the recursion's is not returned)
      if (depth === 0) nstats = Math.max(nstats, n);
    }
  }
  const nodes = await mon.execute<QmpBlockStatsEntry[]>('query-blockstats', { 'query-nodes': true });
  for (const node of nodes) {
    const nodeName = node['node-name'];
    if (!nodeName || table.has(nodeName)) continue;
    const { counters, n } = collect(node);
    table.set(nodeName, counters);
    nstats = Math.max(nstats, n);
  }
  return { table, nstats };
}

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

/** virDomainDiskGetSource for the local and network types. */
export function diskSource(disk: Disk): string | undefined {
  const src = disk.source as { file?: string; dev?: string; dir?: string; name?: string } | undefined;
  switch (disk.type ?? 'file') {
    case 'file':
      return src?.file;
    case 'block':
      return src?.dev;
    case 'dir':
      return src?.dir;
    case 'network':
      return src?.name;
    default:
      return undefined;
  }
}

/**
 * virDomainDiskByName (not ambiguous): by target (`hda`, `vda`), or by source path when the
 * name starts with '/', and then only if exactly one disk has that source.
 */
export function findDisk(def: DomainDef, name: string): Disk | undefined {
  const disks = def.devices?.disk ?? [];
  if (!name.startsWith('/')) return disks.find((d) => d.target?.dev === name);
  const matches = disks.filter((d) => diskSource(d) === name);
  return matches.length === 1 ? matches[0] : undefined;
}

/** The name a disk's statistics are found under with -blockdev (qemuAssignDeviceDiskAlias's qomName). */
export function diskEntryName(disk: Disk): string | undefined {
  const alias = disk.alias?.name;
  if (!alias) return undefined;
  switch (disk.target?.bus) {
    case 'virtio':
      return `/machine/peripheral/${alias}/virtio-backend`;
    case 'usb':
      return `/machine/peripheral/${alias}/${alias}.0/legacy[0]`;
    default:
      return alias;
  }
}

/**
 * qemuDomainBlocksStatsGather: the disk named `path` (target or source), or with `path` empty
 * every disk summed. `def` is the live definition (aliases known).
 */
export async function gatherBlockStats(def: DomainDef, mon: StatsMonitor, path: string): Promise<BlockStats> {
  let entry: string | undefined;
  if (path) {
    const disk = findDisk(def, path);
    if (!disk) throw virReportError('INVALID_ARG', 'qemu', `invalid path: ${path}`);
    if (disk.type === 'vhostuser') {
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        'block stats are not supported for vhostuser disk',
      );
    }
    entry = diskEntryName(disk);
    if (!entry) throw internal(`missing disk device alias name for ${disk.target?.dev}`);
  }
  const { table, nstats } = await allBlockStats(mon);
  const total: BlockStats = {
    rdReq: 0,
    rdBytes: 0,
    wrReq: 0,
    wrBytes: 0,
    errs: -1,
    flushReq: 0,
    rdTotalTimes: 0,
    wrTotalTimes: 0,
    flushTotalTimes: 0,
    nstats,
  };
  const add = (name: string) => {
    const c = table.get(name);
    if (!c) throw internal(`cannot find statistics for device '${name}'`);
    for (const k of Object.keys(c) as (keyof Counters)[]) total[k] += c[k];
  };
  if (entry) add(entry);
  else {
    // qemuDomainBlockStatsGatherTotals over every disk QEMU has a name for
    for (const disk of def.devices?.disk ?? []) {
      if (disk.type === 'vhostuser') continue;
      const name = diskEntryName(disk);
      if (name) add(name);
    }
  }
  return total;
}

/** QEMU's "not collected" is -1 as an unsigned 64-bit value (2^64 - 1, rounded by JSON.parse). */
const notCollected = (v: unknown): boolean => typeof v !== 'number' || v < 0 || v >= 2 ** 64 - 1;

/** The guest-stats fields libvirt reads, in its order, with their tags and divisors. */
const GUEST_STATS: readonly [field: string, tag: number, divisor: number, top?: boolean][] = [
  ['stat-swap-in', MemoryStatTag.SWAP_IN, 1024],
  ['stat-swap-out', MemoryStatTag.SWAP_OUT, 1024],
  ['stat-major-faults', MemoryStatTag.MAJOR_FAULT, 1],
  ['stat-minor-faults', MemoryStatTag.MINOR_FAULT, 1],
  ['stat-free-memory', MemoryStatTag.UNUSED, 1024],
  ['stat-total-memory', MemoryStatTag.AVAILABLE, 1024],
  ['stat-available-memory', MemoryStatTag.USABLE, 1024],
  ['last-update', MemoryStatTag.LAST_UPDATE, 1, true],
  ['stat-disk-caches', MemoryStatTag.DISK_CACHES, 1024],
  ['stat-htlb-pgalloc', MemoryStatTag.HUGETLB_PGALLOC, 1],
  ['stat-htlb-pgfail', MemoryStatTag.HUGETLB_PGFAIL, 1],
];

/** The balloon's QOM path (qemuMonitorInitBalloonObjectPath: a PCI or CCW device under its alias). */
export function balloonPath(def: DomainDef): string | undefined {
  const balloon = def.devices?.memballoon;
  const alias = balloon?.alias?.name;
  const type = (balloon?.address as { type?: string } | undefined)?.type;
  if (!alias || (type !== 'pci' && type !== 'ccw')) return undefined;
  return `/machine/peripheral/${alias}`;
}

/** qemuMonitorJSONGetMemoryStats: `actual` from query-balloon, then the guest's own figures. */
async function balloonStats(def: DomainDef, mon: StatsMonitor): Promise<MemoryStat[]> {
  const out: MemoryStat[] = [];
  // libvirt reports failures of either query and carries on with what it has
  try {
    const info = await mon.execute<{ actual?: number }>('query-balloon');
    if (typeof info.actual === 'number') {
      out.push({ tag: MemoryStatTag.ACTUAL_BALLOON, val: Math.floor(info.actual / 1024) });
    }
  } catch (err) {
    if (!(err instanceof QmpCommandError)) throw err;
  }
  const path = balloonPath(def);
  if (!path) return out;
  let data: { stats?: Record<string, unknown>; [k: string]: unknown };
  try {
    data = await mon.execute('qom-get', { path, property: 'guest-stats' });
  } catch (err) {
    if (err instanceof QmpCommandError) return out;
    throw err;
  }
  const stats = data.stats;
  if (!stats || typeof stats !== 'object') return out;
  for (const [field, tag, divisor, top] of GUEST_STATS) {
    const obj = top ? data : stats;
    if (!(field in obj) || notCollected(obj[field])) continue;
    out.push({ tag, val: Math.floor((obj[field] as number) / divisor) });
  }
  return out;
}

/**
 * The resident set of a process in KiB (virProcessGetStatInfo's rss × page size): VmRSS in
 * /proc/PID/status is the same kernel counter already in KiB, so no page size is needed.
 */
export function processRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * qemuDomainMemoryStatsInternal: the balloon's figures when the domain has a balloon (a model
 * other than 'none'), then `rss`. A process whose RSS cannot be read gives no `rss` (libvirt
 * logs "cannot get RSS for domain" and still succeeds).
 */
export async function gatherMemoryStats(
  def: DomainDef,
  mon: StatsMonitor,
  pid: number | undefined,
): Promise<MemoryStat[]> {
  const balloon = def.devices?.memballoon;
  const out = balloon && balloon.model !== 'none' ? await balloonStats(def, mon) : [];
  const rss = pid === undefined ? undefined : processRssKiB(pid);
  if (rss !== undefined) out.push({ tag: MemoryStatTag.RSS, val: rss });
  return out;
}
