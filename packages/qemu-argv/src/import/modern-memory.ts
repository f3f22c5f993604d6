/**
 * Guest memory: `-m`, the RAM backends (`-object memory-backend-*` named by `-machine
 * memory-backend=` or by `-numa node,memdev=`), `-numa`, hugepages, sharing, preallocation and
 * host NUMA binding. The reverse of ../argv/sections/{memory,head-memory-backend}.ts.
 */
import { bad, type ModernState, num, type Obj, type Opt, propsOf } from './modern-util.js';
import { parseKeywords } from './split.js';

interface Cell {
  id: number;
  cpus?: string;
  memdev?: string;
  memKiB?: number;
  initiator?: number;
  distances: Array<{ id: number; value: number }>;
  cache: Obj[];
}

const cellsOf = (s: ModernState): Cell[] => (s.def.numaCells ??= []);

const HIERARCHY = ['memory', 'first-level', 'second-level', 'third-level'];

/** Ranges as libvirt's bitmap syntax: `0-1`, `4`. */
function joinCpus(ranges: string[]): string {
  return ranges.join(',');
}

export function importNuma(s: ModernState, value: string): boolean {
  const items = parseKeywords(value);
  const kind = items[0]?.[0];
  const m = new Map<string, string[]>();
  for (const [k, v] of items.slice(1)) m.set(k, [...(m.get(k) ?? []), v ?? '']);
  const one = (k: string) => m.get(k)?.[0];
  if (kind === 'node') {
    const id = num(one('nodeid'), 'NUMA node id');
    const cell: Cell = { id, distances: [], cache: [] };
    if (m.has('cpus')) cell.cpus = joinCpus(m.get('cpus')!);
    if (m.has('memdev')) cell.memdev = one('memdev');
    if (m.has('mem')) cell.memKiB = num(one('mem'), 'NUMA memory') * 1024;
    if (m.has('initiator')) cell.initiator = num(one('initiator'), 'initiator');
    cellsOf(s)[id] = cell;
    return true;
  }
  if (kind === 'dist') {
    const src = num(one('src'), 'src');
    const cell = cellsOf(s)[src];
    if (!cell) bad(`NUMA distance for unknown node ${src}`);
    cell.distances.push({ id: num(one('dst'), 'dst'), value: num(one('val'), 'val') });
    return true;
  }
  if (kind === 'hmat-lb') {
    const type = one('data-type') ?? '';
    const kindLb = type.endsWith('-latency') ? 'latency' : 'bandwidth';
    const entry: Obj = {
      initiator: num(one('initiator'), 'initiator'),
      target: num(one('target'), 'target'),
    };
    const level = HIERARCHY.indexOf(one('hierarchy') ?? 'memory');
    if (level > 0) entry.cache = level;
    entry.type = type.replace(/-(latency|bandwidth)$/, '');
    if (kindLb === 'latency') entry.value = num(one('latency'), 'latency');
    else {
      const bw = /^(\d+)K$/.exec(one('bandwidth') ?? '');
      if (!bw) bad(`cannot parse bandwidth '${one('bandwidth')}'`);
      entry.value = Number(bw[1]);
      entry.unit = 'KiB';
    }
    ((s.def.hmat ??= { latency: [], bandwidth: [] })[kindLb] as Obj[]).push(entry);
    return true;
  }
  if (kind === 'hmat-cache') {
    const id = num(one('node-id'), 'node-id');
    const cell = cellsOf(s)[id];
    if (!cell) bad(`NUMA cache for unknown node ${id}`);
    const size = /^(\d+)K$/.exec(one('size') ?? '');
    const c: Obj = { level: num(one('level'), 'level') };
    const assoc = { none: 'none', direct: 'direct', complex: 'full' }[one('associativity') ?? ''];
    if (assoc) c.associativity = assoc;
    const policy = { none: 'none', 'write-back': 'writeback', 'write-through': 'writethrough' }[
      one('policy') ?? ''
    ];
    if (policy) c.policy = policy;
    c.size = { value: size ? Number(size[1]) : 0, unit: 'KiB' };
    if (m.has('line')) c.line = { value: num(one('line'), 'line'), unit: 'B' };
    cell.cache.push(c);
    return true;
  }
  return false;
}

/** What a RAM backend says about `<memoryBacking>`, `<numatune>` and the cell. */
function readBackend(s: ModernState, opt: Opt, cell: number): { sizeKiB: number; cellProps: Obj } {
  s.used.add(`-object ${propsOf(opt, 'qom-type').id}`);
  const p = propsOf(opt, 'qom-type');
  const mb: Obj = (s.def.memoryBacking ??= {});
  const cellProps: Obj = {};
  const type = p['qom-type'];
  const path = typeof p['mem-path'] === 'string' ? p['mem-path'] : undefined;
  let hugepage = false;
  if (type === 'memory-backend-memfd') {
    mb.source = { type: 'memfd' };
    if (p.hugetlb === true) {
      hugepage = true;
      const size = Math.floor(num(p.hugetlbsize ?? 0, 'hugetlbsize') / 1024);
      mb.hugepages = size ? { page: [{ size, unit: 'KiB' }] } : {};
    }
  } else if (type === 'memory-backend-file') {
    if (path && /\/libvirt\/qemu\/[^/]+$/.test(path) && !path.startsWith('/var/lib/libvirt/')) {
      hugepage = true;
      mb.hugepages ??= {};
    } else if (p.share === undefined) mb.source = { type: 'file' };
    if (p['discard-data'] === true) {
      if (cell >= 0) cellProps.discard = 'yes';
      else mb.discard = true;
    }
  }
  if (p.share !== undefined) {
    const mode = p.share ? 'shared' : 'private';
    if (cell >= 0) cellProps.memAccess = mode;
    else mb.access = { mode };
  }
  if (p.prealloc === true && !hugepage) mb.allocation = { ...mb.allocation, mode: 'immediate' };
  if (p['prealloc-threads'] !== undefined)
    mb.allocation = { ...mb.allocation, threads: num(p['prealloc-threads'], 'prealloc-threads') };
  if (Array.isArray(p['host-nodes'])) {
    const mode = { bind: 'strict', preferred: 'preferred', interleave: 'interleave' }[String(p.policy)];
    const nodeset = bitmap(p['host-nodes'] as number[]);
    const tune: Obj = (s.def.numatune ??= {});
    if (cell >= 0) (tune.memnode ??= []).push({ cellid: cell, mode, nodeset });
    else tune.memory = { mode, nodeset };
  }
  if (p['prealloc-context'] !== undefined) s.used.add(`-object ${p['prealloc-context']}`);
  return { sizeKiB: Math.floor(num(p.size, 'memory backend size') / 1024), cellProps };
}

/** `0,2-3` from a list of numbers. */
export function bitmap(nodes: number[]): string {
  const sorted = [...new Set(nodes)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

export function importMemoryBackend(): void {}

/** Sizes, NUMA cells and backing, once every option is read. */
export function finishMemory(s: ModernState): void {
  const def = s.def;
  let total = def.initialMemory ?? 0;
  const cells = (def.numaCells ?? []) as Cell[];
  if (def.ramBackend) {
    const o = s.objects.get(def.ramBackend);
    if (o) readBackend(s, o, -1);
  } else if (def.memPath) {
    const mb: Obj = (s.def.memoryBacking ??= {});
    if (/\/libvirt\/qemu\/[^/]+$/.test(def.memPath) && !def.memPath.startsWith('/var/lib/libvirt/'))
      mb.hugepages ??= {};
    else mb.source = { type: 'file' };
  }
  if (def.memPrealloc && !def.memoryBacking?.hugepages)
    (def.memoryBacking ??= {}).allocation = { mode: 'immediate' };
  if (cells.length) {
    const out: Obj[] = [];
    let sum = 0;
    cells.forEach((c, i) => {
      if (!c) return;
      const cell: Obj = { id: c.id };
      if (c.cpus !== undefined) cell.cpus = c.cpus;
      let size = c.memKiB ?? 0;
      let extra: Obj = {};
      if (c.memdev) {
        const o = s.objects.get(c.memdev);
        if (o) {
          const r = readBackend(s, o, i);
          size = r.sizeKiB;
          extra = r.cellProps;
        }
      }
      sum += size;
      cell.memory = size;
      cell.unit = 'KiB';
      Object.assign(cell, extra);
      if (c.distances.length) cell.distances = { sibling: c.distances };
      if (c.cache.length) cell.cache = c.cache;
      out.push(cell);
    });
    def.cpu = { ...def.cpu, numa: { cell: out } };
    if (def.hmat) {
      const ic: Obj = {};
      if (def.hmat.latency.length) ic.latency = def.hmat.latency;
      if (def.hmat.bandwidth.length) ic.bandwidth = def.hmat.bandwidth;
      def.cpu.numa.interconnects = ic;
    }
    total = sum;
  }
  for (const m of s.devices.memory ?? []) total += m.target?.size?.value ?? 0;
  if (def.memoryBacking && Object.keys(def.memoryBacking).length === 0) delete def.memoryBacking;
  def.memory = {
    ...(def.memory?.dumpCore ? { dumpCore: def.memory.dumpCore } : {}),
    unit: 'KiB',
    value: total,
  };
  delete def.initialMemory;
  delete def.numaCells;
  delete def.ramBackend;
  delete def.memPath;
  delete def.memPrealloc;
  delete def.hmat;
}
