import type { DomainDef } from '@qvirt/core';
import { VirError, virReportError } from '@qvirt/core';
import { scaledToBytes } from '../../domain-util.js';
import { canonicalBitmap, parseBitmap } from './general-bitmap.js';

/** LLONG_MAX: the largest memory size libvirt accepts, in bytes (virMemoryMaxValue). */
const MAX_BYTES = 2n ** 63n - 1n;
/** VIR_DOMAIN_MEMORY_PARAM_UNLIMITED: a `*_limit` at or above this many KiB means no limit. */
const UNLIMITED_KIB = 2n ** 53n - 1n;

/** A scaled size in bytes (virParseScaledValue with KiB as the default unit). */
function bytesOf(value: number | string | undefined, unit: string | undefined, what: string): bigint {
  if (value === undefined)
    throw virReportError('XML_ERROR', 'domain', `missing element or attribute '${what}'`);
  const bytes = scaledToBytes(value, unit === '' ? undefined : unit);
  if (bytes === undefined) throw virReportError('INVALID_ARG', 'domain', `unknown suffix '${unit}'`);
  if (bytes > MAX_BYTES) {
    throw virReportError('OVERFLOW', 'domain', `value too large: ${value}${unit ?? ''}`);
  }
  return bytes;
}

/** virDomainParseMemory: a size in KiB, rounded up. */
export function sizeKiB(value: number | string | undefined, unit: string | undefined, what: string): number {
  const kib = (bytesOf(value, unit, what) + 1023n) / 1024n;
  if (kib >= (MAX_BYTES + 1023n) / 1024n) throw virReportError('OVERFLOW', 'domain', 'size value too large');
  return Number(kib);
}

type Scaled = { unit?: string | undefined; value?: number | undefined };

/** `{ unit: 'KiB', value }` for a scaled element, or undefined when absent. */
function toKiB<T extends Scaled>(
  el: T | undefined,
  what: string,
): (T & { unit: string; value: number }) | undefined {
  if (!el) return undefined;
  return { ...el, unit: 'KiB', value: sizeKiB(el.value, el.unit, what) };
}

/**
 * virDomainMemoryTargetDefParseXML reads a memory device's sizes (size, block, requested, label
 * size) with virDomainParseMemory, so they are stored, and written back, in KiB; so is the source
 * page size.
 */
export function memoryDeviceUnits(def: DomainDef): void {
  for (const mem of def.devices?.memory ?? []) {
    const t = mem.target as Record<string, Scaled | Record<string, Scaled> | undefined> | undefined;
    if (t) {
      for (const name of ['size', 'block', 'requested', 'current'] as const) {
        const el = t[name] as Scaled | undefined;
        if (el?.value !== undefined) t[name] = toKiB(el, `./target/${name}`);
      }
      const label = t.label as { size?: Scaled } | undefined;
      if (label?.size?.value !== undefined) label.size = toKiB(label.size, './target/label/size');
    }
    const src = mem.source as { pagesize?: Scaled } | undefined;
    if (src?.pagesize?.value !== undefined) src.pagesize = toKiB(src.pagesize, './source/pagesize');
  }
}

/** The size of a memory device (`<memory model=…><target><size>`), in KiB. */
function memoryDeviceKiB(def: DomainDef): number {
  let total = 0;
  for (const mem of def.devices?.memory ?? []) {
    const size = mem.target?.size;
    if (size?.value !== undefined) total += sizeKiB(size.value, size.unit, './target/size');
  }
  return total;
}

/**
 * The guest NUMA cells as libvirt's parser stores them (virDomainNumaDefParseXML): ordered by
 * id (default: position), memory in KiB, the CPU list as a canonical bitmap.
 */
export function numaCells(def: DomainDef): void {
  const numa = def.cpu?.numa;
  if (!numa) return;
  const cells = numa.cell ?? [];
  if (cells.length === 0)
    throw virReportError('XML_ERROR', 'domain', 'NUMA topology defined without NUMA cells');
  const byId: (typeof cells)[number][] = [];
  const cpuSets: (Set<number> | undefined)[] = [];
  cells.forEach((cell, i) => {
    const id = cell.id ?? i;
    if (id >= cells.length) {
      throw virReportError(
        'XML_ERROR',
        'domain',
        "Exactly one 'cell' element per guest NUMA cell allowed, non-contiguous ranges or ranges not starting from 0 are not allowed",
      );
    }
    if (byId[id]) throw virReportError('XML_ERROR', 'domain', `Duplicate NUMA cell info for cell id '${id}'`);
    const out = { ...cell, id };
    if (cell.cpus !== undefined) {
      const bits = parseBitmap(cell.cpus);
      if (bits.size) {
        out.cpus = canonicalBitmap(cell.cpus);
        cpuSets[id] = bits;
        cpuSets.forEach((other, j) => {
          if (j === id || !other) return;
          if ([...bits].some((b) => other.has(b))) {
            throw virReportError(
              'CONFIG_UNSUPPORTED',
              'domain',
              `NUMA cells ${id} and ${j} have overlapping vCPU ids`,
            );
          }
        });
      } else {
        delete out.cpus;
      }
    }
    out.memory = sizeKiB(cell.memory, cell.unit, './@memory');
    out.unit = 'KiB';
    if (out.cache) {
      out.cache = out.cache.map((c) => ({
        ...c,
        ...(c.size
          ? { size: { value: sizeKiB(c.size.value, c.size.unit, './size/@value'), unit: 'KiB' } }
          : {}),
        ...(c.line
          ? { line: { value: Number(bytesOf(c.line.value, c.line.unit ?? 'B', './line/@value')), unit: 'B' } }
          : {}),
      }));
    }
    byId[id] = out;
  });
  numa.cell = byId;
  numaDistances(cells, byId);
  const bw = numa.interconnects?.bandwidth;
  if (bw) {
    numa.interconnects!.bandwidth = bw.map((b) => ({
      ...b,
      value: sizeKiB(b.value, b.unit, './@value'),
      unit: 'KiB',
    }));
  }
}

type Cell = NonNullable<NonNullable<NonNullable<DomainDef['cpu']>['numa']>['cell']>[number];

/**
 * NUMA distances (virDomainNumaDefNodeDistanceParseXML): a cell naming any sibling gets a full
 * row with its local distance 10, and each named sibling gets the reverse distance unless it
 * gives one itself. Rows are written in cell order, skipping unknown distances.
 */
function numaDistances(parsed: Cell[], byId: Cell[]): void {
  const n = byId.length;
  const rows: (number[] | undefined)[] = new Array(n).fill(undefined);
  const row = (id: number): number[] => {
    let r = rows[id];
    if (!r) {
      r = new Array(n).fill(0);
      r[id] = 10;
      rows[id] = r;
    }
    return r;
  };
  parsed.forEach((cell, i) => {
    const cur = cell.id ?? i;
    const distances = cell.distances;
    if (!distances) return;
    const siblings = distances.sibling ?? [];
    if (!siblings.length)
      throw virReportError('XML_ERROR', 'domain', 'NUMA distances defined without siblings');
    for (const s of siblings) {
      if (s.id === undefined)
        throw virReportError('XML_ERROR', 'domain', "Missing required attribute 'id' in element 'sibling'");
      if (s.id >= n) {
        throw virReportError(
          'XML_ERROR',
          'domain',
          `'sibling_id ${s.id}' does not refer to a valid cell within NUMA 'cell id ${cur}'`,
        );
      }
      if (s.value === undefined)
        throw virReportError(
          'XML_ERROR',
          'domain',
          "Missing required attribute 'value' in element 'sibling'",
        );
      const v = s.value;
      if (v < 10 || v > 255 || (s.id === cur && v !== 10) || (s.id !== cur && v === 10)) {
        throw virReportError(
          'XML_ERROR',
          'domain',
          `'value ${v}' is invalid for 'sibling id ${s.id}' under NUMA 'cell id ${cur}'`,
        );
      }
      row(cur)[s.id] = v;
      const back = row(s.id);
      if (!back[cur]) back[cur] = v;
    }
  });
  byId.forEach((cell, id) => {
    const r = rows[id];
    if (!r) {
      delete cell.distances;
      return;
    }
    cell.distances = {
      sibling: r.flatMap((value, sid) => (value ? [{ id: sid, value }] : [])),
    };
  });
}

/** Sum of the NUMA cells' memory, in KiB (virDomainNumaGetMemorySize). */
function numaMemoryKiB(def: DomainDef): number {
  return (def.cpu?.numa?.cell ?? []).reduce((sum, c) => sum + (c.memory ?? 0), 0);
}

/**
 * `<memory>`, `<currentMemory>`, `<maxMemory>` in KiB (parse time), then
 * virDomainDefPostParseMemory: with guest NUMA the total is the cells' sum plus the memory
 * devices (define allows ABI updates), the balloon defaults to the total.
 */
export function memoryUnits(def: DomainDef): void {
  numaCells(def);
  let total = def.memory ? sizeKiB(def.memory.value, def.memory.unit, './memory[1]') : 0;
  const cur = def.currentMemory
    ? sizeKiB(def.currentMemory.value, def.currentMemory.unit, './currentMemory[1]')
    : 0;
  const max = def.maxMemory ? sizeKiB(def.maxMemory.value, def.maxMemory.unit, './maxMemory[1]') : 0;
  const slots = def.maxMemory?.slots ?? 0;

  const numaMemory = numaMemoryKiB(def);
  const hotplug = memoryDeviceKiB(def);
  if (numaMemory) {
    total = numaMemory + hotplug;
  } else if (hotplug > total) {
    throw virReportError('XML_ERROR', 'domain', 'Total size of memory devices exceeds the total memory size');
  }
  if (total - hotplug === 0) {
    throw virReportError(
      'XML_ERROR',
      'domain',
      'Memory size must be specified via <memory> or in the <numa> configuration',
    );
  }
  def.memory = { ...def.memory, unit: 'KiB', value: total };
  def.currentMemory = { unit: 'KiB', value: cur > total || cur === 0 ? total : cur };
  if ((max || slots) && !(max && slots)) {
    throw virReportError(
      'XML_ERROR',
      'domain',
      'both maximum memory size and memory slot count must be specified',
    );
  }
  if (max && max < total) {
    throw virReportError(
      'XML_ERROR',
      'domain',
      'maximum memory size must be equal or greater than the actual memory size',
    );
  }
  if (max && slots) def.maxMemory = { slots, unit: 'KiB', value: max };
  else delete def.maxMemory;
}

/** A `*_limit` in KiB (virDomainParseMemoryLimit); undefined when unlimited. */
function limitKiB(el: Scaled | undefined, what: string): Scaled | undefined {
  if (!el) return undefined;
  const bytes = bytesOf(el.value, el.unit, what);
  if (bytes > UNLIMITED_KIB << 10n)
    throw virReportError('OVERFLOW', 'domain', `value too large: ${el.value}${el.unit ?? ''}`);
  const kib = (bytes + 1023n) / 1024n;
  if (kib >= UNLIMITED_KIB) return undefined;
  return { unit: 'KiB', value: Number(kib) };
}

/**
 * `<memtune>` limits and `<memoryBacking>` page sizes in KiB, as the parser stores them; limits
 * that mean "unlimited" and a zero min_guarantee are not written back.
 */
export function memoryTuning(def: DomainDef): void {
  const mt = def.memtune;
  if (mt) {
    const hard = limitKiB(mt.hard_limit, './memtune/hard_limit[1]');
    const soft = limitKiB(mt.soft_limit, './memtune/soft_limit[1]');
    const guarantee = toKiB(mt.min_guarantee, './memtune/min_guarantee[1]');
    const swap = limitKiB(mt.swap_hard_limit, './memtune/swap_hard_limit[1]');
    const out: NonNullable<DomainDef['memtune']> = {};
    if (hard) out.hard_limit = hard;
    if (soft) out.soft_limit = soft;
    if (guarantee?.value) out.min_guarantee = { unit: 'KiB', value: guarantee.value };
    if (swap) out.swap_hard_limit = swap;
    if (Object.keys(out).length) def.memtune = out;
    else delete def.memtune;
  }
  const pages = def.memoryBacking?.hugepages?.page;
  if (pages?.length) {
    const hasNuma = (def.cpu?.numa?.cell?.length ?? 0) > 0;
    def.memoryBacking!.hugepages!.page = pages.map((p) => {
      const size = sizeKiB(p.size, p.unit, './@size');
      if (!size) throw new VirError('XML_DETAIL', 'domain', "hugepage size can't be zero");
      const out: (typeof pages)[number] = { size, unit: 'KiB' };
      if (p.nodeset !== undefined) {
        const bits = parseBitmap(p.nodeset);
        if (!bits.size) {
          throw virReportError('CONFIG_UNSUPPORTED', 'domain', `Invalid value of 'nodeset': ${p.nodeset}`);
        }
        // Without guest NUMA a nodeset of just node 0 is dropped (virDomainDefPostParseMemtune).
        const onlyZero = bits.size === 1 && bits.has(0);
        if (!(onlyZero && !hasNuma)) out.nodeset = canonicalBitmap(p.nodeset);
      }
      return out;
    });
  }
}
