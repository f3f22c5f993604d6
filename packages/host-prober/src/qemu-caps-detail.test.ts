import { qemu72Caps } from '@qvirt/qemu-argv';
import { describe, expect, it } from 'vitest';
import { formatQemuCapsXml } from './caps-xml.js';
import { hypervFromExpansion } from './probe-host-cpu.js';
import { parseQemuCapsCache, type QemuCapsExtras, withoutBulk } from './qemu-caps-detail.js';

const extras: QemuCapsExtras = {
  hostCpu: {
    kvm: {
      name: 'base',
      migratability: true,
      props: [
        { name: 'vendor', type: 'string', value: "Genuine'Intel" },
        { name: 'family', type: 'number', value: 6 },
        { name: 'sse4.2', type: 'boolean', value: true, migratable: true },
        { name: 'invtsc', type: 'boolean', value: true, migratable: false },
        { name: 'avx512f', type: 'boolean', value: false },
      ],
    },
    tcg: { name: 'max', migratability: false, props: [{ name: 'pclmulqdq', type: 'boolean', value: true }] },
  },
  hypervCapabilities: ['spinlocks', 'vendor_id'],
  sev: { cbitpos: 47, reducedPhysBits: 1, pdh: 'AAA', certChain: 'BBB', cpu0Id: 'CCC' },
  sgx: { flc: true, sgx1: true, sgx2: false, sectionSize: 1024, sections: [{ node: 0, size: 1024 }] },
  gic: [{ version: 3, kernel: true, emulated: false }],
};

describe('the capabilities cache beyond QemuCaps', () => {
  it('reads back the host CPU expansions, blockers, Hyper-V, SEV, SGX and GIC it writes', () => {
    const caps = qemu72Caps();
    const blockers = { kvm: { Haswell: ['pclmulqdq', 'fxsr-opt'] }, tcg: {} };
    const xml = formatQemuCapsXml(caps, { package: 'p', cpuBlockers: blockers, extras });
    const back = parseQemuCapsCache(xml, 'test');
    expect(back.hostCpu).toEqual(extras.hostCpu);
    expect(back.hypervCapabilities).toEqual(extras.hypervCapabilities);
    expect(back.sev).toEqual(extras.sev);
    expect(back.sgx).toEqual(extras.sgx);
    expect(back.gic).toEqual(extras.gic);
    expect(back.cpuBlockers.kvm.Haswell).toEqual(['pclmulqdq', 'fxsr-opt']);
    expect(back.caps.machines).toEqual(caps.machines);
    expect([...back.caps.flags].sort()).toEqual([...caps.flags].sort());
    // the light document keeps everything but the per-line bulk
    expect(withoutBulk(xml)).not.toMatch(/<(property|blocker) /);
  });

  it("names the Hyper-V enlightenments KVM offers in libvirt's names and order", () => {
    const full = {
      name: 'host',
      migratability: false,
      props: [
        { name: 'hv-vendor-id', type: 'string' as const, value: 'x' },
        { name: 'hv-spinlocks', type: 'number' as const, value: 4095 },
        { name: 'hv-relaxed', type: 'boolean' as const, value: false },
        { name: 'hv-unknown', type: 'boolean' as const, value: true },
      ],
    };
    expect(hypervFromExpansion(full)).toEqual(['spinlocks', 'vendor_id']);
    expect(hypervFromExpansion({ ...full, props: [] })).toBeUndefined();
  });
});
