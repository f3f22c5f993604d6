import { describe, expect, it } from 'vitest';
import {
  X86Data,
  x86DataFromFeatures,
  x86DataToFeatures,
  x86DataVendor,
  x86FeatureData,
  x86MakeSignature,
  x86SignatureFromCpuid,
  x86VendorData,
} from './data.js';
import {
  x86Feature,
  x86FeatureFromAlias,
  x86FeatureIndex,
  x86Features,
  x86MapSource,
  x86Model,
  x86Models,
  x86QemuModels,
  x86VendorForModel,
} from './map.js';

describe('the generated x86 CPU map', () => {
  it('comes from libvirt 9.0.0 and QEMU 7.2', () => {
    expect(x86MapSource().libvirt).toBe('9.0.0');
    expect(x86MapSource().qemu).toMatch(/^7\.2\./);
  });

  it('places features at their CPUID or MSR bit (x86_features.xml)', () => {
    expect(x86Feature('fpu')?.cpuid).toEqual({ leaf: 1, subleaf: 0, register: 'edx', bit: 0 });
    expect(x86Feature('avx2')?.cpuid).toEqual({ leaf: 7, subleaf: 0, register: 'ebx', bit: 5 });
    expect(x86Feature('lm')?.cpuid).toEqual({ leaf: 0x80000001, subleaf: 0, register: 'edx', bit: 29 });
    expect(x86Feature('rdctl-no')?.msr).toEqual({ index: 0x10a, register: 'eax', bit: 0 });
    expect(x86Feature('invtsc')?.migratable).toBe(false);
    expect(x86Feature('fpu')?.migratable).toBe(true);
  });

  it('keeps the map order and knows the aliases', () => {
    const i = (n: string) => x86FeatureIndex(n);
    // cpu-exact2's message lists ds (leaf 1 edx) before monitor, ds_cpl, xtpr (leaf 1 ecx)
    expect(i('ds')).toBeLessThan(i('monitor'));
    expect(i('monitor')).toBeLessThan(i('ds_cpl'));
    expect(i('ds_cpl')).toBeLessThan(i('xtpr'));
    expect(x86FeatureFromAlias('sse4-1')).toBe('sse4.1');
    expect(x86FeatureFromAlias('pclmulqdq')).toBe('pclmuldq');
    expect(x86FeatureFromAlias('no-such-feature')).toBeUndefined();
  });

  it('gives every feature its own bit', () => {
    const seen = new Set<string>();
    for (const f of x86Features()) {
      const key = JSON.stringify(x86FeatureData(f).items());
      expect(seen.has(key), f.name).toBe(false);
      seen.add(key);
    }
  });

  it('describes models with vendor, signatures, decode flags and features', () => {
    const haswell = x86Model('Haswell');
    expect(haswell?.vendor).toBe('Intel');
    expect(haswell?.signatures.map((s) => `${s.family}/${s.model}`)).toEqual([
      '6/60',
      '6/63',
      '6/69',
      '6/70',
    ]);
    expect(haswell?.features).toContain('hle');
    expect(x86Model('Haswell-noTSX')?.features).not.toContain('hle');
    expect(x86Model('Skylake-Server-noTSX-IBRS')?.signatures[0]?.stepping).toEqual([0, 1, 2, 3, 4]);
    expect(x86Model('Skylake-Server-noTSX-IBRS')?.decodeGuest).toBe(false);
    expect(x86Model('Icelake-Server')?.removedFeatures).toContain('intel-pt');
    expect(x86Model('qemu64')?.vendor).toBeUndefined();
    expect(x86VendorForModel('EPYC')).toBe('AMD');
    // index.xml order: 486 first, the generic models before the named ones
    expect(x86Models()[0]?.name).toBe('486');
    // a model's features come in the map's order
    const idx = haswell?.features.map((f) => x86FeatureIndex(f)) ?? [];
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
  });

  it("carries QEMU's own model definitions", () => {
    const q = x86QemuModels().find((m) => m.name === 'Haswell');
    expect(q?.aliasOf).toBe('Haswell-v1');
    expect(q?.vendor).toBe('GenuineIntel');
    expect(q?.family).toBe(6);
    expect(q?.features).toEqual(expect.arrayContaining(x86Model('Haswell')?.features ?? ['x']));
  });
});

describe('CPUID bit sets', () => {
  it('turns feature names into bits and back in map order', () => {
    const d = x86DataFromFeatures(['xtpr', 'ds', 'sse4-1']);
    expect(x86DataToFeatures(d)).toEqual(['ds', 'xtpr', 'sse4.1']);
    expect(() => x86DataFromFeatures(['nonsense'])).toThrow('unknown CPU feature nonsense');
  });

  it('does set algebra like virCPUx86Data', () => {
    const a = x86DataFromFeatures(['fpu', 'vme', 'avx2']);
    const b = x86DataFromFeatures(['vme', 'avx2', 'rdctl-no']);
    expect(x86DataToFeatures(a.clone().intersect(b))).toEqual(['vme', 'avx2']);
    expect(x86DataToFeatures(a.clone().subtract(b))).toEqual(['fpu']);
    expect(x86DataToFeatures(a.clone().add(b))).toEqual(['fpu', 'vme', 'avx2', 'rdctl-no']);
    expect(a.isSubset(x86DataFromFeatures(['fpu']))).toBe(true);
    expect(a.isSubset(b)).toBe(false);
    expect(new X86Data().isEmpty()).toBe(true);
    expect(a.clone().subtract(a).isEmpty()).toBe(true);
  });

  it('encodes signatures as CPUID leaf 1 eax', () => {
    // Icelake-Server: family 6 model 106 stepping 6 is 0x606a6
    expect(x86MakeSignature(6, 106, 6)).toBe(0x606a6);
    expect(x86SignatureFromCpuid(0x606a6)).toEqual({ family: 6, model: 106, stepping: 6 });
    // AMD family 0x17 uses the extended family field
    expect(x86SignatureFromCpuid(x86MakeSignature(0x17, 1, 2))).toEqual({
      family: 0x17,
      model: 1,
      stepping: 2,
    });
  });

  it('encodes vendors as CPUID leaf 0', () => {
    const intel = x86VendorData('Intel');
    expect(intel.get('cpuid', 0)).toEqual([0, 0x756e6547, 0x6c65746e, 0x49656e69]);
    expect(x86DataVendor(intel)).toBe('Intel');
    expect(x86DataVendor(x86VendorData('AMD'))).toBe('AMD');
    expect(x86DataVendor(new X86Data())).toBeUndefined();
  });
});
