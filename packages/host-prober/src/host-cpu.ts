/**
 * The host CPU of `virsh capabilities` as libvirt 9.0 builds it on x86 (virCPUx86GetHost): the
 * CPUID leaves of the CPU itself (cpuidSet over the basic and extended ranges, with the sub-leaf
 * rules of each leaf), IA32_ARCH_CAPABILITIES when CPUID announces it, decoded against the CPU
 * map by @qvirt/cpu to the closest model plus the features on top; the microcode revision and
 * the physical address size from /proc/cpuinfo; the TSC frequency from KVM when the TSC is
 * invariant; the topology from the node info. libvirt runs the CPUID instruction; so does qvirt
 * (machine code called through koffi), or else asks the kernel's cpuid device (/dev/cpu/0/cpuid).
 *
 * What comes from the CPU (CPUID, MSR, TSC) is gathered into a `HostCpuidProbe`, plain data that a
 * test fixture can hold; `hostCpuFromProbe` turns it and the host's files into the description.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { X86Data, type X86DataItem, x86DataHasFeature, x86Decode } from '@qvirt/cpu';
import type { HostFs } from './host-fs.js';
import type { NodeInfo } from './host-topology.js';
import { hostMsr, kvmTscInfo, type TscInfo } from './kvm-ioctl.js';

export interface CpuidEntry {
  eax_in: number;
  ecx_in: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export type CpuidCall = (leaf: number, subleaf: number) => [number, number, number, number];

/**
 * x86-64 code for `void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])` (System V ABI):
 * push rbx; mov r8, rdx; mov eax, edi; mov ecx, esi; cpuid; mov [r8], eax; mov [r8+4], ebx;
 * mov [r8+8], ecx; mov [r8+12], edx; pop rbx; ret.
 */
const CPUID_X86_64 = [
  0x53, 0x49, 0x89, 0xd0, 0x89, 0xf8, 0x89, 0xf1, 0x0f, 0xa2, 0x41, 0x89, 0x00, 0x41, 0x89, 0x58, 0x04, 0x41,
  0x89, 0x48, 0x08, 0x41, 0x89, 0x50, 0x0c, 0x5b, 0xc3,
];

interface KoffiForCpuid {
  load(lib: string): { func(sig: string): (...a: unknown[]) => unknown };
  proto(sig: string): unknown;
  call(fn: unknown, type: unknown, ...args: unknown[]): unknown;
  view(ptr: unknown, len: number): ArrayBuffer;
}

let instruction: CpuidCall | null | undefined;

/**
 * The CPUID instruction itself, as libvirt's cpuidCall runs it: a few bytes of machine code in a
 * page mapped writable, then made executable (never both), called through koffi. Undefined where
 * that is impossible (not x86-64, no koffi, a policy refusing executable mappings).
 */
export function instructionCpuid(): CpuidCall | undefined {
  if (instruction !== undefined) return instruction ?? undefined;
  instruction = null;
  if (process.arch !== 'x64' || process.platform !== 'linux') return undefined;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as KoffiForCpuid;
    const libc = koffi.load('libc.so.6');
    const mmap = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
    const mprotect = libc.func('int mprotect(void *addr, size_t len, int prot)');
    const [READ, WRITE, EXEC, PRIVATE, ANONYMOUS] = [1, 2, 4, 0x02, 0x20];
    const page = mmap(null, 4096, READ | WRITE, PRIVATE | ANONYMOUS, -1, 0);
    if (!page) return undefined;
    new Uint8Array(koffi.view(page, 4096)).set(CPUID_X86_64);
    if (mprotect(page, 4096, READ | EXEC) !== 0) return undefined;
    const proto = koffi.proto('void qvirt_cpuid(uint32_t leaf, uint32_t subleaf, _Out_ uint32_t *out)');
    const out = new Uint32Array(4);
    instruction = (leaf, sub) => {
      koffi.call(page, proto, leaf >>> 0, sub >>> 0, out);
      return [out[0]!, out[1]!, out[2]!, out[3]!];
    };
    return instruction;
  } catch {
    return undefined;
  }
}

/** The kernel's cpuid device of one CPU as a CPUID instruction, or undefined without it. */
export function devCpuid(cpu = 0): CpuidCall | undefined {
  let fd: number;
  try {
    fd = openSync(`/dev/cpu/${cpu}/cpuid`, 'r');
  } catch {
    return undefined;
  }
  const b = Buffer.alloc(16);
  const call: CpuidCall = (leaf, sub) => {
    // the file offset is the leaf in the low and the sub-leaf in the high 32 bits
    readSync(fd, b, 0, 16, (BigInt(sub >>> 0) << 32n) | BigInt(leaf >>> 0));
    return [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)];
  };
  process.once('exit', () => closeSync(fd));
  return call;
}

/** cpuidSet for `base` (0 or 0x80000000): every leaf up to the range's maximum, with sub-leaves. */
function cpuidRange(call: CpuidCall, base: number, out: CpuidEntry[]): void {
  const at = (leaf: number, sub: number): CpuidEntry => {
    const [eax, ebx, ecx, edx] = call(leaf, sub);
    return { eax_in: leaf, ecx_in: sub, eax, ebx, ecx, edx };
  };
  const max = call(base, 0)[0] >>> 0;
  // a range's maximum far past its base is garbage (no extended range), as libvirt would loop
  const last = Math.min(max, base + 0xff);
  for (let leaf = base; leaf <= last; leaf++) {
    const sub0 = at(leaf, 0);
    if (leaf === 0x4) {
      out.push(sub0);
      for (let s = 1, e = sub0; e.eax & 0x1f; s++) out.push((e = at(leaf, s)));
    } else if (leaf === 0x7 || leaf === 0x14) {
      out.push(sub0);
      for (let s = 1; s <= sub0.eax; s++) out.push(at(leaf, s));
    } else if (leaf === 0xb) {
      for (let s = 0, e = sub0; e.ecx & 0xff00; e = at(leaf, ++s)) out.push(e);
    } else if (leaf === 0xd) {
      const sub1 = at(leaf, 1);
      out.push(sub0, sub1);
      for (let s = 2; s < 64; s++) {
        const on =
          s < 32
            ? (sub0.eax >>> s) & 1 || (sub1.ecx >>> s) & 1
            : (sub0.edx >>> (s - 32)) & 1 || (sub1.edx >>> (s - 32)) & 1;
        if (on) out.push(at(leaf, s));
      }
    } else if (leaf === 0xf || leaf === 0x10) {
      out.push(sub0);
      const res = leaf === 0xf ? sub0.edx : sub0.ebx;
      for (let s = 1; s < 32; s++) if ((res >>> s) & 1) out.push(at(leaf, s));
    } else if (leaf === 0x12) {
      const leaf7 = out.find((e) => e.eax_in === 7 && e.ecx_in === 0);
      if (!leaf7 || !(leaf7.ebx & (1 << 2))) continue;
      out.push(sub0, at(leaf, 1));
      for (let s = 2, e = at(leaf, 2); e.eax & 0xf; e = at(leaf, ++s)) out.push(e);
    } else if (leaf === 0x17) {
      if (sub0.eax < 3) continue;
      out.push(sub0);
      for (let s = 1; s <= sub0.eax; s++) out.push(at(leaf, s));
    } else out.push(sub0);
  }
}

/** What libvirt reads from the CPU and KVM for the host CPU. */
export interface HostCpuidProbe {
  cpuid: CpuidEntry[];
  /** IA32_ARCH_CAPABILITIES (0x10a) as hex, when CPUID announces it and it could be read. */
  archCapabilities?: string;
  /** From KVM when the TSC is invariant (absent: not invariant, or KVM could not tell). */
  tsc?: TscInfo;
}

const ARCH_CAPABILITIES_MSR = 0x10a;

function cpuData(probe: Pick<HostCpuidProbe, 'cpuid' | 'archCapabilities'>): X86Data {
  const items: X86DataItem[] = probe.cpuid.map((e) => ({ type: 'cpuid', ...e }));
  if (probe.archCapabilities !== undefined) {
    const v = BigInt(probe.archCapabilities);
    items.push({
      type: 'msr',
      index: ARCH_CAPABILITIES_MSR,
      eax: Number(v & 0xffffffffn),
      edx: Number(v >> 32n),
    });
  }
  return X86Data.fromItems(items);
}

/** Reads this host's CPU (x86 only; undefined elsewhere or without a cpuid device). */
export function readHostCpu(opts: {
  arch: string;
  kvmDevice?: string;
  call?: CpuidCall;
}): HostCpuidProbe | undefined {
  if (opts.arch !== 'x86_64' && opts.arch !== 'i686') return undefined;
  const call = opts.call ?? instructionCpuid() ?? devCpuid(0);
  if (!call) return undefined;
  const cpuid: CpuidEntry[] = [];
  cpuidRange(call, 0, cpuid);
  cpuidRange(call, 0x80000000, cpuid);
  const probe: HostCpuidProbe = { cpuid };
  const data = cpuData(probe);
  if (x86DataHasFeature(data, 'arch-capabilities')) {
    const msr = hostMsr(ARCH_CAPABILITIES_MSR, opts.kvmDevice);
    if (msr !== undefined) probe.archCapabilities = `0x${msr.toString(16)}`;
  }
  if (x86DataHasFeature(data, 'invtsc')) {
    const tsc = kvmTscInfo(opts.kvmDevice);
    if (!(tsc instanceof Error)) probe.tsc = tsc;
  }
  return probe;
}

/** The `<host><cpu>` content (virCPUDef of type host). */
export interface HostCpuDef {
  arch: string;
  model?: string;
  vendor?: string;
  microcode?: number;
  signature?: { family: number; model: number; stepping: number };
  counter?: { name: 'tsc'; frequency: number; scaling: boolean };
  topology?: { sockets: number; dies: number; cores: number; threads: number };
  maxphysaddr?: { mode: 'emulate'; bits: number };
  features: string[];
  /** Page sizes in KiB. */
  pages: number[];
}

/** virHostCPUGetMicrocodeVersion: the first `microcode` of /proc/cpuinfo's first 4 KiB. */
export function microcodeVersion(fs: HostFs): number {
  const head = (fs.read('/proc/cpuinfo') ?? '').slice(0, 4096);
  const i = head.indexOf('microcode');
  const colon = i < 0 ? -1 : head.indexOf(':', i);
  if (colon < 0) return 0;
  const m = /^\s*(0x[0-9a-f]+|0[0-7]*|[1-9]\d*)/i.exec(head.slice(colon + 1));
  if (!m) return 0;
  const t = m[1]!;
  const n = /^0x/i.test(t)
    ? Number.parseInt(t, 16)
    : t.length > 1 && t.startsWith('0')
      ? Number.parseInt(t, 8)
      : Number(t);
  return n > 0xffffffff ? 0 : n;
}

/** virHostCPUGetPhysAddrSize: `address sizes : N bits physical`. */
export function physAddrBits(fs: HostFs): number | undefined {
  const m = /^address sizes\s*:\s*(\d+) bits physical/m.exec(fs.read('/proc/cpuinfo') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The host CPU from the probe and the host's files (virCPUProbeHost with the node info). */
export function hostCpuFromProbe(
  arch: string,
  probe: HostCpuidProbe | undefined,
  fs: HostFs,
  nodeInfo: Pick<NodeInfo, 'sockets' | 'cores' | 'threads'>,
  pages: number[],
): HostCpuDef {
  const cpu: HostCpuDef = { arch, features: [], pages };
  if (!probe) return cpu;
  const decoded = x86Decode(cpuData(probe), { type: 'host' });
  cpu.model = decoded.model;
  if (decoded.vendor) cpu.vendor = decoded.vendor;
  cpu.features = decoded.features.filter((f) => f.policy === 'require').map((f) => f.name);
  const micro = microcodeVersion(fs);
  if (micro) cpu.microcode = micro;
  if (decoded.signature) cpu.signature = decoded.signature;
  if (probe.tsc) cpu.counter = { name: 'tsc', frequency: probe.tsc.frequency, scaling: probe.tsc.scaling };
  cpu.topology = { sockets: nodeInfo.sockets, dies: 1, cores: nodeInfo.cores, threads: nodeInfo.threads };
  const bits = physAddrBits(fs);
  if (bits !== undefined) cpu.maxphysaddr = { mode: 'emulate', bits };
  return cpu;
}
