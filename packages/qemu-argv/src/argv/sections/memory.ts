import { accelFor, findMachine } from '../../caps/qemu-caps.js';
import { add, type Build } from '../build.js';
import { jsonProps } from '../props.js';
import {
  hugepagePath,
  memoryBackendProps,
  memoryBackingPath,
  memPrealloc,
  setMemPrealloc,
  threadContextProps,
} from './head-memory-backend.js';
import {
  alignedMemory,
  formatBitmap,
  numaCells,
  numaHasHMAT,
  parseBitmap,
  toKiB,
  unsupported,
} from './head-util.js';
import { checkNumatuneAvailable } from './host-numa.js';

function machineInfo(b: Build) {
  return findMachine(b.ctx.caps, accelFor(b.def.type ?? ''), b.def.os?.type?.machine ?? '');
}

function addObject(b: Build, props: Parameters<typeof jsonProps>[0]): void {
  const tc = threadContextProps(b, props);
  if (tc) add(b, '-object', jsonProps(tc));
  add(b, '-object', jsonProps(props));
}

/**
 * qemuBuildMemPathStr: `-mem-prealloc`/`-mem-path` for machines without a default RAM id (or
 * NUMA guests that need no backends) with hugepages or file-backed memory.
 */
function memPath(b: Build): void {
  const def = b.def;
  let path: string | undefined;
  let prealloc = false;
  const hp = def.memoryBacking?.hugepages;
  const first = hp ? (hp.page?.[0] ?? {}) : undefined;
  const firstSize = first?.size === undefined ? 0n : toKiB({ value: first.size, unit: first.unit });
  if (first && firstSize !== 4n) {
    path = hugepagePath(b, firstSize);
    prealloc = true;
  } else if (def.memoryBacking?.source?.type === 'file') {
    path = memoryBackingPath(b, 'ram');
  }
  if (def.memoryBacking?.allocation?.mode === 'immediate') prealloc = true;
  if (prealloc && !memPrealloc(b)) {
    add(b, '-mem-prealloc');
    setMemPrealloc(b);
  }
  if (path) add(b, '-mem-path', path);
}

/** `-m`, the default RAM backend (`pc.ram`) when the guest has no NUMA cells, `-overcommit`. */
export function memory(b: Build): void {
  const def = b.def;
  const mem = alignedMemory(def);
  if (mem.slots > 0 || mem.max > 0n) {
    add(b, '-m', `size=${mem.initial}k,slots=${mem.slots},maxmem=${mem.max}k`);
  } else {
    add(b, '-m', String(mem.initial / 1024n));
  }
  const ramId = machineInfo(b)?.defaultRAMid;
  const hasNuma = numaCells(def).length > 0;
  if (ramId) {
    if (!hasNuma) {
      const { props } = memoryBackendProps(
        b,
        { size: mem.initial, targetNode: -1, alias: ramId },
        true,
        true,
      );
      addObject(b, props);
    }
  } else if (!hasNuma) {
    memPath(b);
  }
  add(b, '-overcommit', `mem-lock=${def.memoryBacking?.locked ? 'on' : 'off'}`);
}

/** The vCPUs present at start that cannot be unplugged (the others are hotplugged later). */
function coldVcpus(b: Build): number {
  const def = b.def;
  const max = def.vcpu?.value ?? 1;
  const list = def.vcpus?.vcpu;
  if (list && list.length > 0) {
    let n = 0;
    for (const v of list) {
      const online = v.enabled === 'yes';
      const hotpluggable = v.hotpluggable ?? (online ? 'no' : 'yes');
      if (online && hotpluggable === 'no') n++;
    }
    return n;
  }
  return Math.min(def.vcpu?.current ?? max, max);
}

/** `-smp N[,maxcpus=M],sockets=…,dies=…,cores=…,threads=…`. */
export function smp(b: Build): void {
  const def = b.def;
  const max = def.vcpu?.value ?? 1;
  const n = coldVcpus(b);
  const parts = [String(n)];
  if (n !== max) parts.push(`maxcpus=${max}`);
  const topo = def.cpu?.topology;
  if (topo?.sockets) {
    const dies = topo.dies ?? 1;
    const hasDies = b.ctx.caps.flags.has('smp-dies');
    if (dies !== 1 && !hasDies) throw unsupported('Only 1 die per socket is supported');
    parts.push(`sockets=${topo.sockets}`);
    if (hasDies) parts.push(`dies=${dies}`);
    parts.push(`cores=${topo.cores ?? 1}`, `threads=${topo.threads ?? 1}`);
  } else {
    parts.push(`sockets=${max}`, 'cores=1', 'threads=1');
  }
  add(b, '-smp', parts.join(','));
}

/** `<iothreadids>` (or a bare `<iothreads>` count): -object iothread, then the main loop. */
export function iothreads(b: Build): void {
  const def = b.def;
  let ids = def.iothreadids?.iothread ?? [];
  if (ids.length === 0 && (def.iothreads ?? 0) > 0) {
    ids = Array.from({ length: def.iothreads ?? 0 }, (_, i) => ({ id: i + 1 }));
  }
  for (const t of ids) {
    add(
      b,
      '-object',
      jsonProps({
        'qom-type': 'iothread',
        id: `iothread${t.id}`,
        'thread-pool-min': t.thread_pool_min,
        'thread-pool-max': t.thread_pool_max,
      }),
    );
  }
  const main = def.defaultiothread;
  if (main) {
    add(
      b,
      '-object',
      jsonProps({
        'qom-type': 'main-loop',
        id: 'main-loop',
        'thread-pool-min': main.thread_pool_min,
        'thread-pool-max': main.thread_pool_max,
      }),
    );
  }
}

/**
 * virDomainNumaGetNodeInitiator: a node with CPUs is its own initiator; otherwise the initiator
 * with the lowest latency (or, without latencies, the largest bandwidth) to it; -1 if none.
 */
function numaInitiator(b: Build, node: number): number {
  const cell = numaCells(b.def)[node];
  if (cell?.cpus) return node;
  const ic = b.def.cpu?.numa?.interconnects;
  let minLatency = Number.POSITIVE_INFINITY;
  let byLatency = -1;
  for (const l of ic?.latency ?? []) {
    if ((l.target ?? 0) !== node) continue;
    if ((l.value ?? 0) < minLatency) {
      minLatency = l.value ?? 0;
      byLatency = l.initiator ?? 0;
    }
  }
  if (byLatency >= 0) return byLatency;
  let maxBandwidth = 0;
  let byBandwidth = -1;
  for (const l of ic?.bandwidth ?? []) {
    if ((l.target ?? 0) !== node) continue;
    if ((l.value ?? 0) > maxBandwidth) {
      maxBandwidth = l.value ?? 0;
      byBandwidth = l.initiator ?? 0;
    }
  }
  return byBandwidth;
}

const HIERARCHY = ['memory', 'first-level', 'second-level', 'third-level'];
const CACHE_ASSOC: Record<string, string> = { none: 'none', direct: 'direct', full: 'complex' };
const CACHE_POLICY: Record<string, string> = {
  none: 'none',
  writeback: 'write-back',
  writethrough: 'write-through',
};

/** `<cpu><numa>`: a backend and `-numa node` per cell, distances, HMAT latencies and caches. */
export function numa(b: Build): void {
  const def = b.def;
  const cells = numaCells(def);
  if (cells.length === 0) return;
  checkNumatuneAvailable(b);
  const mem = alignedMemory(def);
  const hmat = numaHasHMAT(def);
  let needBackend = !machineInfo(b)?.numaMemSupported || hmat;
  const backends = cells.map((_cell, i) => {
    const r = memoryBackendProps(
      b,
      { size: mem.cells[i] ?? 0n, targetNode: i, alias: `ram-node${i}` },
      false,
      false,
    );
    if (r.needed) needBackend = true;
    return r.props;
  });
  if (!needBackend) memPath(b);
  const master = cells.findIndex((c) => c.cpus !== undefined && c.cpus !== '');
  if (master < 0) throw unsupported('At least one NUMA node has to have CPUs');
  cells.forEach((cell, i) => {
    if (needBackend) addObject(b, backends[i]!);
    let text = `node,nodeid=${i}`;
    if (cell.cpus) {
      for (const range of formatBitmap(parseBitmap(cell.cpus)).split(',')) text += `,cpus=${range}`;
    }
    if (hmat) {
      const initiator = numaInitiator(b, i);
      text += `,initiator=${initiator < 0 ? master : initiator}`;
    }
    text += needBackend ? `,memdev=ram-node${i}` : `,mem=${(mem.cells[i] ?? 0n) / 1024n}`;
    add(b, '-numa', text);
  });
  const distancesSet = cells.some((c) => (c.distances?.sibling?.length ?? 0) > 0);
  if (distancesSet) {
    cells.forEach((cell, i) => {
      for (let j = 0; j < cells.length; j++) {
        const value = cell.distances?.sibling?.find((s) => s.id === j)?.value;
        add(b, '-numa', `dist,src=${i},dst=${j},val=${value || (i === j ? 10 : 20)}`);
      }
    });
  }
  if (!hmat) return;
  const ic = def.cpu?.numa?.interconnects;
  const lb = (
    kind: 'latency' | 'bandwidth',
    l: { initiator?: number; target?: number; cache?: number; type?: string; value?: number; unit?: string },
  ) => {
    const head = `hmat-lb,initiator=${l.initiator ?? 0},target=${l.target ?? 0},hierarchy=${HIERARCHY[l.cache ?? 0]},data-type=${l.type ?? 'access'}-`;
    if (kind === 'latency') add(b, '-numa', `${head}latency,latency=${l.value ?? 0}`);
    else {
      const kib = bandwidthKiB(l.value ?? 0, l.unit);
      add(b, '-numa', `${head}bandwidth,bandwidth=${kib}K`);
    }
  };
  for (const l of ic?.latency ?? []) lb('latency', l);
  for (const l of ic?.bandwidth ?? []) lb('bandwidth', l);
  cells.forEach((cell, i) => {
    for (const c of cell.cache ?? []) {
      const size = sizeKiB(c.size?.value ?? 0, c.size?.unit);
      let text = `hmat-cache,node-id=${i},size=${size}K,level=${c.level ?? 0}`;
      if (c.associativity) text += `,associativity=${CACHE_ASSOC[c.associativity]}`;
      if (c.policy) text += `,policy=${CACHE_POLICY[c.policy]}`;
      const line = lineBytes(c.line?.value ?? 0, c.line?.unit);
      if (line > 0) text += `,line=${line}`;
      add(b, '-numa', text);
    }
  });
}

const UNITS: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

function sizeKiB(value: number, unit: string | undefined): number {
  return Math.ceil((value * (UNITS[(unit ?? 'KiB').toLowerCase()] ?? 1024)) / 1024);
}

function bandwidthKiB(value: number, unit: string | undefined): number {
  return sizeKiB(value, unit);
}

function lineBytes(value: number, unit: string | undefined): number {
  return value * (UNITS[(unit ?? 'B').toLowerCase()] ?? 1);
}
