import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type CpuidEntry,
  devCpuid,
  instructionCpuid,
  microcodeVersion,
  physAddrBits,
  readHostCpu,
} from './host-cpu.js';
import { snapshotHostFs } from './host-fs.js';

const fixture = JSON.parse(
  readFileSync(new URL('../test-fixtures/hosts/debian12-icelake-kvm/host.json', import.meta.url), 'utf8'),
) as {
  cpu: { cpuid: CpuidEntry[] };
  fs: { files: Record<string, string | null>; dirs: Record<string, string[] | null> };
};

describe('reading CPUID as libvirt does', () => {
  it("walks the leaves and sub-leaves of libvirt's cpuidSet over a recorded CPU", () => {
    const leaves = new Map(fixture.cpu.cpuid.map((e) => [`${e.eax_in}:${e.ecx_in}`, e]));
    const call = (leaf: number, sub: number): [number, number, number, number] => {
      const e = leaves.get(`${leaf}:${sub}`);
      return e ? [e.eax, e.ebx, e.ecx, e.edx] : [0, 0, 0, 0];
    };
    // no arch-capabilities MSR or TSC asked: a device that does not exist
    const probe = readHostCpu({ arch: 'x86_64', call, kvmDevice: '/nonexistent/kvm' });
    expect(probe?.cpuid).toEqual(fixture.cpu.cpuid);
    expect(readHostCpu({ arch: 'aarch64', call })).toBeUndefined();
  });

  it.skipIf(process.arch !== 'x64')('runs the instruction as the kernel device answers it', () => {
    const insn = instructionCpuid();
    const dev = devCpuid(0);
    expect(insn).toBeDefined();
    if (!dev) return;
    for (const [leaf, sub] of [
      [0, 0],
      [7, 0],
      [0x80000001, 0],
    ] as const) {
      expect(insn!(leaf, sub)).toEqual(dev(leaf, sub));
    }
  });

  it('reads the microcode revision and physical address size of /proc/cpuinfo', () => {
    const fs = snapshotHostFs(fixture.fs);
    expect(microcodeVersion(fs)).toBe(1);
    expect(physAddrBits(fs)).toBe(46);
    const other = snapshotHostFs({
      files: { '/proc/cpuinfo': 'microcode\t: 0xde\naddress sizes\t: 39 bits physical, 48 bits virtual\n' },
      dirs: {},
    });
    expect([microcodeVersion(other), physAddrBits(other)]).toEqual([0xde, 39]);
  });
});
