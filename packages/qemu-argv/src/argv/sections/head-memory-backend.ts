/**
 * `memory-backend-*` objects (libvirt's qemuBuildMemoryBackendProps): the guest's default RAM,
 * each NUMA cell's RAM and (for the memory-device section) each memory module's backing. The
 * choice of ram/file/memfd, hugepages, sharing, preallocation and host NUMA binding follows
 * libvirt 9.0 property for property and in its order.
 */
import type { DomainDef } from '@qvirt/core';
import { shortName } from '../../layout.js';
import type { Build } from '../build.js';
import type { PropObject } from '../props.js';
import { binaryHasFlag, internalError, numaCells, parseBitmap, toKiB, unsupported } from './head-util.js';
import { checkHostNodeset } from './host-numa.js';

/** The memory a backend is built for (libvirt's virDomainMemoryDef, sizes in KiB). */
export interface BackendMemory {
  size: bigint;
  /** Guest NUMA node, -1 for none. */
  targetNode: number;
  alias: string;
  model?: string;
  access?: 'shared' | 'private';
  discard?: 'yes' | 'no';
  /** Page size in KiB, 0 for the domain's setting. */
  pagesize?: bigint;
  nvdimmPath?: string;
  nvdimmPmem?: boolean;
  alignsize?: bigint;
  sourceNodes?: number[];
}

/** State a command line keeps across sections (libvirt's priv->memPrealloc). */
const preallocated = new WeakMap<Build, boolean>();

export function memPrealloc(b: Build): boolean {
  return preallocated.get(b) === true;
}

export function setMemPrealloc(b: Build): void {
  preallocated.set(b, true);
}

const SYSTEM_PAGE_KIB = 4n;

type Hugepage = { size: bigint; nodeset?: number[] };

function hugepages(def: DomainDef): Hugepage[] {
  const hp = def.memoryBacking?.hugepages;
  if (!hp) return [];
  const pages = hp.page ?? [];
  if (pages.length === 0) return [{ size: 0n }];
  return pages.map((p) => ({
    size: p.size === undefined ? 0n : toKiB({ value: p.size, unit: p.unit }),
    ...(p.nodeset ? { nodeset: parseBitmap(p.nodeset) } : {}),
  }));
}

/** A hugetlbfs mount for the page size, as qemuGetDomainHupageMemPath / the default page size. */
export function hugepagePath(b: Build, _pagesize: bigint): string {
  const mounts = b.ctx.conf.hugetlbfsMount ?? [];
  if (mounts.length === 0) {
    throw internalError('hugetlbfs filesystem is not mounted or disabled by administrator config');
  }
  return `${mounts[0]}/libvirt/qemu/${shortName(b.ctx.domainId, b.def.name ?? '')}`;
}

function defaultPagesize(b: Build): bigint {
  const mounts = b.ctx.conf.hugetlbfsMount ?? [];
  if (mounts.length === 0) {
    throw internalError('hugetlbfs filesystem is not mounted or disabled by administrator config');
  }
  return 2048n;
}

/** qemuGetMemoryBackingPath: `memory_backing_dir/SHORTNAME/ALIAS`. */
export function memoryBackingPath(b: Build, alias: string): string {
  const dir = b.ctx.conf.memoryBackingDir ?? b.ctx.layout.memoryBackingDir;
  return `${dir}/${shortName(b.ctx.domainId, b.def.name ?? '')}/${alias}`;
}

interface Pagesize {
  pagesize: bigint;
  needHugepage: boolean;
  useHugepage: boolean;
  prealloc: boolean;
}

/** qemuBuildMemoryGetPagesize. */
export function memoryPagesize(b: Build, mem: BackendMemory): Pagesize {
  const def = b.def;
  let pagesize = mem.pagesize ?? 0n;
  let needHugepage = pagesize !== 0n;
  let useHugepage = pagesize !== 0n;
  let prealloc = false;
  if (pagesize === 0n) {
    const pages = hugepages(def);
    let master: Hugepage | undefined;
    let found: Hugepage | undefined;
    for (const page of pages) {
      if (!page.nodeset) {
        master = page;
        continue;
      }
      if (mem.targetNode < 0) continue;
      if (page.nodeset.includes(mem.targetNode)) {
        needHugepage = true;
        found = page;
        break;
      }
    }
    const page = found ?? master;
    if (page) {
      pagesize = page.size;
      useHugepage = true;
    }
  }
  if (pagesize === SYSTEM_PAGE_KIB) {
    pagesize = 0n;
    needHugepage = false;
    useHugepage = false;
  } else if (useHugepage && pagesize === 0n) {
    pagesize = defaultPagesize(b);
  }
  if (def.memoryBacking?.allocation?.mode === 'immediate') prealloc = true;
  if (mem.nvdimmPath) {
    if (!mem.nvdimmPmem && mem.model !== 'virtio-pmem') prealloc = true;
  } else if (useHugepage) {
    prealloc = true;
  }
  return { pagesize, needHugepage, useHugepage, prealloc };
}

type NumaMode = 'strict' | 'preferred' | 'interleave' | 'restrictive';

function memnode(def: DomainDef, cell: number) {
  if (cell < 0 || cell >= numaCells(def).length) return undefined;
  return def.numatune?.memnode?.find((m) => m.cellid === cell && m.nodeset !== undefined);
}

/** virDomainNumatuneGetMode for a cell, falling back to the domain's mode, then strict. */
function numaMode(def: DomainDef, cell: number): NumaMode {
  const node = memnode(def, cell);
  if (node) return node.mode ?? 'strict';
  if (def.numatune?.memory) return def.numatune.memory.mode ?? 'strict';
  return 'strict';
}

/** virDomainNumatuneMaybeGetNodeset. */
function numaNodeset(def: DomainDef, cell: number): number[] | undefined {
  const tune = def.numatune;
  if (!tune) return undefined;
  const node = memnode(def, cell);
  if (!node && !tune.memory) return undefined;
  if (tune.memory?.placement === 'auto') {
    throw internalError('Advice from numad is needed in case of automatic numa placement');
  }
  if (node?.nodeset) return parseBitmap(node.nodeset);
  return tune.memory?.nodeset ? parseBitmap(tune.memory.nodeset) : undefined;
}

const POLICY: Record<NumaMode, string> = {
  strict: 'bind',
  preferred: 'preferred',
  interleave: 'interleave',
  restrictive: 'restrictive',
};

export interface BackendResult {
  props: PropObject;
  /** False when a plain `-numa node,mem=` would do (libvirt's return value 1). */
  needed: boolean;
}

/** qemuBuildMemoryBackendProps. */
export function memoryBackendProps(
  b: Build,
  mem: BackendMemory,
  force: boolean,
  systemMemory: boolean,
): BackendResult {
  const def = b.def;
  const cells = numaCells(def);
  let access = mem.access;
  let discard = mem.discard;
  if (mem.targetNode >= 0) {
    const cell = cells[mem.targetNode];
    access ??= cell?.memAccess;
    discard ??= cell?.discard;
  }
  access ??= def.memoryBacking?.access?.mode;
  if (discard === undefined && def.memoryBacking?.discard) discard = 'yes';
  const nodeSpecified = memnode(def, mem.targetNode) !== undefined;
  const mode = numaMode(def, mem.targetNode);
  const page = memoryPagesize(b, mem);
  let prealloc = page.prealloc;
  const source = def.memoryBacking?.source?.type;

  const body: PropObject = {};
  let backendType = 'memory-backend-file';
  let disableCanonicalPath = false;
  const share = (): void => {
    if (access === 'shared') body.share = true;
    else if (access === 'private') body.share = false;
  };
  if (mem.model === 'sgx-epc') {
    backendType = 'memory-backend-epc';
    if (!memPrealloc(b)) prealloc = true;
  } else if (!mem.nvdimmPath && source === 'memfd') {
    backendType = 'memory-backend-memfd';
    if (page.useHugepage) {
      body.hugetlb = true;
      body.hugetlbsize = Number(page.pagesize << 10n);
    }
    share();
    if (systemMemory) disableCanonicalPath = true;
  } else if (page.useHugepage || mem.nvdimmPath || access !== undefined || source === 'file') {
    let path: string;
    if (mem.nvdimmPath) path = mem.nvdimmPath;
    else if (page.useHugepage) path = hugepagePath(b, page.pagesize);
    else path = memoryBackingPath(b, mem.alias);
    body['mem-path'] = path;
    if (!mem.nvdimmPath && discard !== undefined) body['discard-data'] = discard === 'yes';
    share();
    if (systemMemory) disableCanonicalPath = true;
  } else {
    backendType = 'memory-backend-ram';
  }

  if (disableCanonicalPath && binaryHasFlag(b, 'memory-backend-file.x-use-canonical-path-for-ramblock-id')) {
    body['x-use-canonical-path-for-ramblock-id'] = false;
  }

  if (mem.model === 'virtio-mem') {
    if (!binaryHasFlag(b, 'virtio-mem-pci.prealloc') && memPrealloc(b)) body.prealloc = false;
    if (binaryHasFlag(b, 'memory-backend-file.reserve')) body.reserve = false;
  } else if (!memPrealloc(b)) {
    if (prealloc) body.prealloc = true;
    const threads = def.memoryBacking?.allocation?.threads;
    if (threads !== undefined && threads > 0) body['prealloc-threads'] = threads;
  }

  body.size = Number(mem.size * 1024n);
  if (mem.alignsize !== undefined && mem.alignsize > 0n) body.align = Number(mem.alignsize * 1024n);
  if (mem.nvdimmPmem) {
    if (!binaryHasFlag(b, 'memory-backend-file.pmem')) {
      throw unsupported('nvdimm pmem property is not available with this QEMU binary');
    }
    body.pmem = true;
  }

  const nodemask = mem.sourceNodes ?? numaNodeset(def, mem.targetNode);
  checkHostNodeset(b, nodemask);
  if (nodemask && mode !== 'restrictive') {
    body['host-nodes'] = nodemask;
    body.policy = POLICY[mode];
  }

  let needed = true;
  if (
    !page.needHugepage &&
    !mem.sourceNodes &&
    !nodeSpecified &&
    !mem.nvdimmPath &&
    access === undefined &&
    source !== 'file' &&
    source !== 'memfd' &&
    !force
  ) {
    needed = false;
  } else if (backendType === 'memory-backend-memfd' && !binaryHasFlag(b, 'memory-backend-memfd')) {
    throw unsupported("this qemu doesn't support the memory-backend-memfd object");
  }

  return { props: { 'qom-type': backendType, id: mem.alias, ...body }, needed };
}

/**
 * qemuBuildThreadContextProps: a `thread-context` object pinned to the backend's host nodes when
 * the backend preallocates; the backend then names it as its `prealloc-context`.
 */
export function threadContextProps(b: Build, backend: PropObject): PropObject | undefined {
  if (!binaryHasFlag(b, 'thread-context')) return undefined;
  const nodes = backend['host-nodes'];
  if (!Array.isArray(nodes) || backend.prealloc !== true) return undefined;
  const id = `tc-${String(backend.id)}`;
  backend['prealloc-context'] = id;
  return { 'qom-type': 'thread-context', id, 'node-affinity': [...nodes] };
}
