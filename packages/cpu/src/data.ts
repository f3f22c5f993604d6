/**
 * CPUID/MSR bit sets (libvirt's virCPUx86Data): items keyed by CPUID leaf and sub-leaf or by MSR
 * index, each holding four 32-bit registers (an MSR uses eax and edx). Features, models, vendors
 * and signatures are all such sets; the algorithms of cpu_x86.c are set operations on them.
 */

import { x86Feature, x86Features, x86Vendor, x86Vendors } from './map.js';
import type { CpuFeature, CpuidRegister } from './types.js';

const REG_INDEX: Record<CpuidRegister, 0 | 1 | 2 | 3> = { eax: 0, ebx: 1, ecx: 2, edx: 3 };

export type X86DataItem =
  | { type: 'cpuid'; eax_in: number; ecx_in: number; eax: number; ebx: number; ecx: number; edx: number }
  | { type: 'msr'; index: number; eax: number; edx: number };

interface Slot {
  type: 'cpuid' | 'msr';
  in0: number;
  in1: number;
  regs: [number, number, number, number];
}

function keyOf(type: 'cpuid' | 'msr', in0: number, in1: number): string {
  return type === 'cpuid' ? `c:${in0}:${in1}` : `m:${in0}`;
}

export class X86Data {
  /** Items by key; zero registers are kept (libvirt skips all-zero items when iterating). */
  private readonly slots = new Map<string, Slot>();

  static fromItems(items: Iterable<X86DataItem>): X86Data {
    const d = new X86Data();
    for (const it of items) d.addItem(it);
    return d;
  }

  clone(): X86Data {
    const d = new X86Data();
    for (const [k, s] of this.slots) d.slots.set(k, { ...s, regs: [...s.regs] });
    return d;
  }

  /** virCPUx86DataAddItem: ORs the item's bits in. */
  addItem(item: X86DataItem): this {
    if (item.type === 'cpuid') {
      this.orSlot('cpuid', item.eax_in, item.ecx_in, [item.eax, item.ebx, item.ecx, item.edx]);
    } else {
      this.orSlot('msr', item.index, 0, [item.eax, 0, 0, item.edx]);
    }
    return this;
  }

  /** Sets one bit. */
  setBit(type: 'cpuid' | 'msr', in0: number, in1: number, reg: 0 | 1 | 2 | 3, bit: number): this {
    const regs: [number, number, number, number] = [0, 0, 0, 0];
    regs[reg] = (1 << bit) >>> 0;
    return this.orSlot(type, in0, type === 'msr' ? 0 : in1, regs);
  }

  private orSlot(
    type: 'cpuid' | 'msr',
    in0: number,
    in1: number,
    regs: [number, number, number, number],
  ): this {
    const key = keyOf(type, in0, in1);
    const s = this.slots.get(key);
    if (s) for (let i = 0; i < 4; i++) s.regs[i] = ((s.regs[i] ?? 0) | (regs[i] ?? 0)) >>> 0;
    else this.slots.set(key, { type, in0, in1, regs: regs.map((r) => r >>> 0) as Slot['regs'] });
    return this;
  }

  /** The registers of one CPUID leaf / MSR (undefined when absent). */
  get(type: 'cpuid' | 'msr', in0: number, in1 = 0): [number, number, number, number] | undefined {
    return this.slots.get(keyOf(type, in0, type === 'msr' ? 0 : in1))?.regs;
  }

  /** x86DataAdd. */
  add(other: X86Data): this {
    for (const [k, s] of other.slots) {
      if (isZero(s)) continue;
      const mine = this.slots.get(k);
      if (mine) for (let i = 0; i < 4; i++) mine.regs[i] = ((mine.regs[i] ?? 0) | (s.regs[i] ?? 0)) >>> 0;
      else this.slots.set(k, { ...s, regs: [...s.regs] });
    }
    return this;
  }

  /** x86DataSubtract: clears the bits `other` has. */
  subtract(other: X86Data): this {
    for (const [k, s] of this.slots) {
      const o = other.slots.get(k);
      if (o) for (let i = 0; i < 4; i++) s.regs[i] = ((s.regs[i] ?? 0) & ~(o.regs[i] ?? 0)) >>> 0;
    }
    return this;
  }

  /** x86DataIntersect: keeps only the bits `other` has too. */
  intersect(other: X86Data): this {
    for (const [k, s] of this.slots) {
      const o = other.slots.get(k);
      for (let i = 0; i < 4; i++) s.regs[i] = o ? ((s.regs[i] ?? 0) & (o.regs[i] ?? 0)) >>> 0 : 0;
    }
    return this;
  }

  /** x86DataIsEmpty. */
  isEmpty(): boolean {
    for (const s of this.slots.values()) if (!isZero(s)) return false;
    return true;
  }

  /** x86DataIsSubset: every bit of `subset` is set here. */
  isSubset(subset: X86Data): boolean {
    for (const [k, sub] of subset.slots) {
      if (isZero(sub)) continue;
      const s = this.slots.get(k);
      if (!s || !matchMasked(s, sub)) return false;
    }
    return true;
  }

  /** The non-zero items, sorted as libvirt sorts them (CPUID before MSR, by leaf, sub-leaf). */
  items(): X86DataItem[] {
    return [...this.slots.values()]
      .filter((s) => !isZero(s))
      .sort((a, b) => (a.type === b.type ? a.in0 - b.in0 || a.in1 - b.in1 : a.type === 'cpuid' ? -1 : 1))
      .map((s) =>
        s.type === 'cpuid'
          ? {
              type: 'cpuid',
              eax_in: s.in0,
              ecx_in: s.in1,
              eax: s.regs[0],
              ebx: s.regs[1],
              ecx: s.regs[2],
              edx: s.regs[3],
            }
          : { type: 'msr', index: s.in0, eax: s.regs[0], edx: s.regs[3] },
      );
  }

  /** @internal raw slot access for the algorithms (same key space as libvirt's virCPUx86DataGet). */
  slotEntries(): IterableIterator<[string, Slot]> {
    return this.slots.entries();
  }

  /** @internal */
  slot(key: string): Slot | undefined {
    return this.slots.get(key);
  }
}

function isZero(s: Slot): boolean {
  return s.regs[0] === 0 && s.regs[1] === 0 && s.regs[2] === 0 && s.regs[3] === 0;
}

/** virCPUx86DataItemMatchMasked: `item` has every bit of `mask`. */
function matchMasked(item: Slot, mask: Slot): boolean {
  for (let i = 0; i < 4; i++) {
    const m = mask.regs[i] ?? 0;
    if (((item.regs[i] ?? 0) & m) >>> 0 !== m) return false;
  }
  return true;
}

/** virCPUx86DataItemMatch: identical registers. */
export function slotsMatch(a: Slot, b: Slot): boolean {
  return a.regs.every((r, i) => r === b.regs[i]);
}

export { matchMasked as slotMatchMasked };

const featureDataCache = new Map<string, X86Data>();

/** The bit set of one feature of the map. */
export function x86FeatureData(feature: CpuFeature): X86Data {
  let d = featureDataCache.get(feature.name);
  if (!d) {
    d = new X86Data();
    if (feature.cpuid) {
      const { leaf, subleaf, register, bit } = feature.cpuid;
      d.setBit('cpuid', leaf, subleaf, REG_INDEX[register], bit);
    } else if (feature.msr) {
      const { index, register, bit } = feature.msr;
      d.setBit('msr', index, 0, REG_INDEX[register], bit);
    }
    featureDataCache.set(feature.name, d);
  }
  return d;
}

/**
 * The bit set of a list of features (libvirt's names; aliases are accepted). Throws on a name
 * the map does not know.
 */
export function x86DataFromFeatures(names: Iterable<string>): X86Data {
  const d = new X86Data();
  for (const n of names) {
    const f = x86Feature(n) ?? x86FeatureByAlias(n);
    if (!f) throw new Error(`unknown CPU feature ${n}`);
    d.add(x86FeatureData(f));
  }
  return d;
}

function x86FeatureByAlias(name: string): CpuFeature | undefined {
  return x86Features().find((f) => f.aliases.some((a) => a.name === name));
}

/** The features whose bits are all in `data`, in the map's order (x86FeatureNames). */
export function x86DataToFeatures(data: X86Data): string[] {
  return x86Features()
    .filter((f) => data.isSubset(x86FeatureData(f)))
    .map((f) => f.name);
}

/** Whether `data` has the feature's bits (virCPUx86DataCheckFeature). */
export function x86DataHasFeature(data: X86Data, name: string): boolean {
  const f = x86Feature(name);
  if (!f) throw new Error(`unknown CPU feature ${name}`);
  return data.isSubset(x86FeatureData(f));
}

/** CPUID leaf 0 ebx/edx/ecx of a 12-character vendor string (virCPUx86VendorToData). */
export function x86VendorStringData(vendorString: string): X86Data {
  if (vendorString.length !== 12) throw new Error(`Invalid CPU vendor string '${vendorString}'`);
  const b = Buffer.from(vendorString, 'latin1');
  return new X86Data().addItem({
    type: 'cpuid',
    eax_in: 0,
    ecx_in: 0,
    eax: 0,
    ebx: b.readUInt32LE(0),
    edx: b.readUInt32LE(4),
    ecx: b.readUInt32LE(8),
  });
}

/** The vendor bits of one of the map's vendors (`Intel`, `AMD`, `Hygon`). */
export function x86VendorData(name: string): X86Data {
  const v = x86Vendor(name);
  if (!v) throw new Error(`CPU vendor ${name} not found`);
  return x86VendorStringData(v.string);
}

/** x86DataToVendor without side effects: the map vendor whose string `data` carries. */
export function x86DataVendor(data: X86Data): string | undefined {
  for (const v of x86Vendors()) {
    if (data.isSubset(x86VendorStringData(v.string))) return v.name;
  }
  return undefined;
}

/** x86MakeSignature: CPUID leaf 1 eax of a family/model/stepping. */
export function x86MakeSignature(family: number, model: number, stepping = 0): number {
  let sig = 0;
  let fam = family;
  if (fam > 0xf) {
    sig |= (fam - 0xf) << 20;
    fam = 0xf;
  }
  sig |= (model >> 4) << 16;
  sig |= fam << 8;
  sig |= (model & 0xf) << 4;
  sig |= stepping & 0xf;
  return sig >>> 0;
}

/** virCPUx86SignatureFromCPUID. */
export function x86SignatureFromCpuid(sig: number): { family: number; model: number; stepping: number } {
  return {
    family: ((sig >>> 20) & 0xff) + ((sig >>> 8) & 0xf),
    model: ((sig >>> 12) & 0xf0) + ((sig >>> 4) & 0xf),
    stepping: sig & 0xf,
  };
}

/** Mask of the reserved bits of the processor signature (x86DataToSignature). */
const SIGNATURE_MASK = 0x0fff3fff;

/** CPUID leaf 1 eax of `data` without reserved bits; 0 without leaf 1. */
export function x86DataSignature(data: X86Data): number {
  const leaf1 = data.get('cpuid', 1, 0);
  return leaf1 ? (leaf1[0] & SIGNATURE_MASK) >>> 0 : 0;
}

/** Adds a signature (CPUID leaf 1 eax) to `data`. */
export function x86DataSetSignature(data: X86Data, family: number, model: number, stepping = 0): X86Data {
  return data.addItem({
    type: 'cpuid',
    eax_in: 1,
    ecx_in: 0,
    eax: x86MakeSignature(family, model, stepping),
    ebx: 0,
    ecx: 0,
    edx: 0,
  });
}
