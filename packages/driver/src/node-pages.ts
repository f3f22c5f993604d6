/**
 * The host's page pools (qemuNodeGetFreePages / qemuNodeAllocPages over virhostmem.c's
 * virHostMemGetFreePages / virHostMemAllocPages and virnuma.c): the system page size counts the
 * node's (or host's) MemTotal / MemFree, huge pages are read from and set in sysfs,
 * `/sys/devices/system/node/nodeN/hugepages/hugepages-<size>kB/{nr,free}_hugepages`, or
 * `/sys/kernel/mm/hugepages/…` for the whole host (cell -1). Errors are libvirt's (VIR_FROM_NONE).
 */
import { writeFileSync } from 'node:fs';
import { virCheckFlags, virReportError, virReportInvalidArg, virReportSystemError } from '@qvirt/core';
import { type HostFs, hostMemory, numaNodeIds, numaNodeMemory, realHostFs } from '@qvirt/host-prober';

/** VIR_NODE_ALLOC_PAGES_SET (ADD is 0). */
export const VIR_NODE_ALLOC_PAGES_SET = 1;

const NUMA_PREFIX = '/sys/devices/system/node/';
const SYSTEM_PREFIX = '/sys/kernel/mm/hugepages/';

/** The system page size in KiB (virGetSystemPageSizeKB); 4 KiB on the hosts qvirt runs on. */
export const SYSTEM_PAGE_KIB = 4;

const failed = (msg: string) => virReportError('OPERATION_FAILED', 'none', msg);

/** virNumaGetHugePageInfoPath: the pool's file, or libvirt's word on why there is none. */
function hugePagePath(fs: HostFs, node: number, kib: number, file: string): string {
  const p =
    node === -1
      ? `${SYSTEM_PREFIX}hugepages-${kib}kB/${file}`
      : `${NUMA_PREFIX}node${node}/hugepages/hugepages-${kib}kB/${file}`;
  if (fs.read(p) === undefined) {
    if (node === -1) throw failed(`page size ${kib} is not available`);
    if (!numaNodeIds(fs).includes(node)) throw failed(`NUMA node ${node} is not available`);
    throw failed(`page size ${kib} is not available on node ${node}`);
  }
  return p;
}

/** virNumaGetHugePageInfo's number read (a count and a newline). */
function readCount(fs: HostFs, p: string, code: 'INTERNAL_ERROR' | 'OPERATION_FAILED'): number {
  const text = fs.read(p) ?? '';
  if (!/^\d+\n$/.test(text))
    throw code === 'INTERNAL_ERROR'
      ? virReportError('INTERNAL_ERROR', 'none', `unable to parse: ${text}`)
      : failed(`invalid number '${text}' in '${p}'`);
  return Number(text.trim());
}

/** virNumaGetPageInfo's free count: pages of `kib` free on `node` (-1: the host). */
function freePages(fs: HostFs, node: number, kib: number): number {
  if (kib === SYSTEM_PAGE_KIB) {
    const mem = node === -1 ? hostMemory(fs) : numaNodeMemory(fs, node);
    if (!mem) throw failed(`NUMA node ${node} is not available`);
    return Math.floor(mem.free / (kib * 1024));
  }
  return readCount(fs, hugePagePath(fs, node, kib, 'free_hugepages'), 'INTERNAL_ERROR');
}

/**
 * virCapabilitiesHostNUMAGetMaxNode, and whether libnuma sees NUMA at all (virNumaIsAvailable):
 * a host without node folders is one fake cell 0.
 */
function cells(fs: HostFs): { last: number; numa: boolean } {
  const ids = numaNodeIds(fs);
  return ids.length ? { last: ids[ids.length - 1]!, numa: true } : { last: 0, numa: false };
}

/** The cells a call covers (virHostMemGetFreePages / AllocPages' shared start). */
function cellRange(fs: HostFs, startCell: number, cellCount: number): number[] {
  const { last, numa } = cells(fs);
  // without NUMA, the fake cell 0 is the whole host's sysfs
  let start = startCell;
  if (!numa && last === 0 && start === 0 && cellCount === 1) start = -1;
  if (start > last)
    throw virReportError('INTERNAL_ERROR', 'none', `start cell ${start} out of range (0-${last})`);
  const end = Math.min(last, start + cellCount - 1);
  const out: number[] = [];
  for (let c = start; c <= end; c++) out.push(c);
  return out;
}

/** libvirt-host.c's virCheckNonZeroArg. */
function nonZero(value: number, name: string, fn: string): void {
  if (value === 0) throw virReportInvalidArg('none', `${name} in ${fn} must not be zero`);
}

/** qemuNodeGetFreePages: per cell, per page size, the free pages. */
export function nodeGetFreePages(
  pages: number[],
  startCell: number,
  cellCount: number,
  flags: number,
  fs: HostFs = realHostFs(),
): number[] {
  nonZero(pages.length, 'npages', 'virNodeGetFreePages');
  nonZero(cellCount, 'cellCount', 'virNodeGetFreePages');
  virCheckFlags(flags, 0, 'qemuNodeGetFreePages');
  const counts: number[] = [];
  for (const cell of cellRange(fs, startCell, cellCount))
    for (const kib of pages) counts.push(freePages(fs, cell, kib));
  if (counts.length === 0) throw virReportError('INTERNAL_ERROR', 'none', 'no suitable info found');
  return counts;
}

/** virNumaSetPagePoolSize: the pool's new size, written and read back. */
function setPagePoolSize(fs: HostFs, node: number, kib: number, count: number, add: boolean): void {
  if (kib === SYSTEM_PAGE_KIB)
    throw virReportError('OPERATION_UNSUPPORTED', 'none', "system pages pool can't be modified");
  const p = hugePagePath(fs, node, kib, 'nr_hugepages');
  const current = readCount(fs, p, 'OPERATION_FAILED');
  let want = count;
  if (add) {
    if (!count) return;
    want += current;
  } else if (current === count) return;
  try {
    writeFileSync(p, String(want));
  } catch (err) {
    throw virReportSystemError(err, 'none', `Unable to write to: ${p}`);
  }
  const now = readCount(fs, p, 'OPERATION_FAILED');
  if (now !== want) throw failed(`Unable to allocate ${want} pages. Allocated only ${now}`);
}

/** qemuNodeAllocPages: each pool set (or grown, without VIR_NODE_ALLOC_PAGES_SET) on each cell. */
export function nodeAllocPages(
  pageSizes: number[],
  pageCounts: number[],
  startCell: number,
  cellCount: number,
  flags: number,
  fs: HostFs = realHostFs(),
): number {
  nonZero(pageSizes.length, 'npages', 'virNodeAllocPages');
  nonZero(cellCount, 'cellCount', 'virNodeAllocPages');
  virCheckFlags(flags, VIR_NODE_ALLOC_PAGES_SET, 'qemuNodeAllocPages');
  const add = !(flags & VIR_NODE_ALLOC_PAGES_SET);
  let n = 0;
  for (const cell of cellRange(fs, startCell, cellCount))
    pageSizes.forEach((kib, i) => {
      setPagePoolSize(fs, cell, kib, pageCounts[i] ?? 0, add);
      n++;
    });
  return n;
}
