/**
 * Helpers shared by the non-device sections of the command line (machine, CPU, memory, NUMA,
 * platform): sizes in KiB, CPU sets, NUMA cells, the memory alignment libvirt applies when it
 * prepares a domain for start (qemuDomainAlignMemorySizes), and the capability flags of the
 * binary that actually runs.
 */
import { type DomainDef, type VirError, virReportError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import { scaledToBytes } from '../../domain-util.js';
import type { Build } from '../build.js';

export type NumaCell = NonNullable<NonNullable<NonNullable<DomainDef['cpu']>['numa']>['cell']>[number];

export function unsupported(message: string): VirError {
  return virReportError('CONFIG_UNSUPPORTED', 'qemu', message);
}

export function internalError(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** A scaled size (`{ value, unit }`) in KiB, rounded up; `defaultUnit` when no unit is written. */
export function toKiB(
  size: { value?: number | string; unit?: string } | undefined,
  defaultUnit = 'KiB',
): bigint {
  if (size?.value === undefined) return 0n;
  const bytes = scaledToBytes(size.value, size.unit, defaultUnit);
  if (bytes === undefined) throw unsupported(`unknown unit '${size.unit}'`);
  return (bytes + 1023n) / 1024n;
}

/** A scaled size in bytes. */
export function toBytes(
  size: { value?: number | string; unit?: string } | undefined,
  defaultUnit = 'KiB',
): bigint {
  if (size?.value === undefined) return 0n;
  const bytes = scaledToBytes(size.value, size.unit, defaultUnit);
  if (bytes === undefined) throw unsupported(`unknown unit '${size.unit}'`);
  return bytes;
}

/**
 * The binary's capability flags. The QEMU description in the context is the x86_64 system
 * emulator's; `qemu-system-i386` lacks the x86_64-only CPU type `max-x86_64-cpu`, so libvirt
 * probes neither `x86-max-cpu` nor `cpu.migratable` on it.
 */
export function binaryHasFlag(b: Build, flag: string): boolean {
  const emulator = b.def.devices?.emulator ?? b.ctx.caps.emulator;
  if (/qemu-system-i386$/.test(emulator) && (flag === 'cpu.migratable' || flag === 'x86-max-cpu')) {
    return false;
  }
  return hasFlag(b.ctx.caps, flag);
}

/** libvirt's bitmap syntax (`0-3,^2,8`) to a sorted list of members. */
export function parseBitmap(text: string): number[] {
  const set = new Set<number>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const neg = part.startsWith('^');
    const body = neg ? part.slice(1) : part;
    const m = /^(\d+)(?:-(\d+))?$/.exec(body);
    if (!m) throw virReportError('XML_ERROR', 'qemu', `invalid bitmap '${text}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi; i++) {
      if (neg) set.delete(i);
      else set.add(i);
    }
  }
  return [...set].sort((a, b) => a - b);
}

/** virBitmapFormat: ranges joined with commas (`0-3,8,10-11`). */
export function formatBitmap(members: number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < members.length) {
    let j = i;
    while (j + 1 < members.length && members[j + 1] === members[j]! + 1) j++;
    out.push(i === j ? `${members[i]}` : `${members[i]}-${members[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

export function numaCells(def: DomainDef): NumaCell[] {
  return def.cpu?.numa?.cell ?? [];
}

/** virDomainNumaHasHMAT: any cell cache or interconnect. */
export function numaHasHMAT(def: DomainDef): boolean {
  const numa = def.cpu?.numa;
  if (!numa) return false;
  const ic = numa.interconnects;
  if ((ic?.latency?.length ?? 0) > 0 || (ic?.bandwidth?.length ?? 0) > 0) return true;
  return (numa.cell ?? []).some((c) => (c.cache?.length ?? 0) > 0);
}

const MAX_MEM_KIB = (2n ** 63n - 1n) >> 10n;

export interface AlignedMemory {
  /** Initial memory (KiB): NUMA total, or total minus memory modules, rounded to 1 MiB. */
  initial: bigint;
  /** Each NUMA cell's size (KiB), rounded to 1 MiB. */
  cells: bigint[];
  /** `<maxMemory>` (KiB), rounded to 1 MiB; 0 without memory hotplug. */
  max: bigint;
  slots: number;
}

/** The memory sizes libvirt puts on the command line after qemuDomainAlignMemorySizes (x86). */
export function alignedMemory(def: DomainDef): AlignedMemory {
  const align = 1024n;
  const up = (v: bigint): bigint => ((v + align - 1n) / align) * align;
  const cells: bigint[] = [];
  let initial = 0n;
  numaCells(def).forEach((cell, i) => {
    const mem = up(toKiB({ value: cell.memory, unit: cell.unit }));
    if (mem > MAX_MEM_KIB) throw unsupported(`memory size of NUMA node '${i}' overflowed after alignment`);
    cells.push(mem);
    initial += mem;
  });
  if (initial === 0n) {
    let total = toKiB(def.memory);
    for (const m of def.devices?.memory ?? []) total -= toKiB(m.target?.size);
    initial = up(total);
  }
  const max = up(toKiB(def.maxMemory));
  if (max > MAX_MEM_KIB) throw unsupported('maximum memory size overflowed after alignment');
  return { initial, cells, max, slots: def.maxMemory?.slots ?? 0 };
}
