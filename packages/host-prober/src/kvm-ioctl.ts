/**
 * What libvirt asks /dev/kvm itself (virhostcpu.c): the vCPU limit (KVM_CAP_MAX_VCPUS), the TSC
 * frequency of a throw-away vCPU and whether KVM can scale it (virHostCPUGetTscInfo), and feature
 * MSRs such as IA32_ARCH_CAPABILITIES (virHostCPUGetMSRFromKVM). Node has no ioctl, so these go
 * through libc with koffi, loaded on first use (as @qvirt/driver's net-tap.ts does).
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type VirError, virReportSystemError } from '@qvirt/core';

const KVM_CREATE_VM = 0xae01;
const KVM_CHECK_EXTENSION = 0xae03;
const KVM_CREATE_VCPU = 0xae41;
const KVM_GET_TSC_KHZ = 0xaea3;
/** _IOWR(KVMIO, 0x88, struct kvm_msrs): 8-byte header (nmsrs, pad). */
const KVM_GET_MSRS = 0xc008ae88;
const KVM_CAP_NR_VCPUS = 9;
const KVM_CAP_TSC_CONTROL = 60;
const KVM_CAP_MAX_VCPUS = 66;

interface Libc {
  ioctlValue(fd: number, request: number, arg: number): number;
  ioctlPtr(fd: number, request: number, arg: Buffer): number;
  close(fd: number): number;
  errno(): number;
}

let libc: Libc | undefined;

function ffi(): Libc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(sig: string): (...a: unknown[]) => unknown };
    errno(): number;
  };
  const lib = koffi.load('libc.so.6');
  const ioctlValue = lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
  const ioctlPtr = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
  const close = lib.func('int close(int fd)');
  libc = {
    ioctlValue: (fd, r, a) => ioctlValue(fd, r, a) as number,
    ioctlPtr: (fd, r, a) => ioctlPtr(fd, r, a) as number,
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
  };
  return libc;
}

function openKvm(device: string): number {
  try {
    return openSync(device, constants.O_RDONLY);
  } catch (err) {
    throw virReportSystemError((err as NodeJS.ErrnoException).code, 'qemu', `Unable to open ${device}`);
  }
}

/** virHostCPUGetKVMMaxVCPUs: KVM_CAP_MAX_VCPUS, else KVM_CAP_NR_VCPUS, else 4. */
export function kvmMaxVcpus(device = '/dev/kvm'): number {
  const fd = openKvm(device);
  try {
    const c = ffi();
    const max = c.ioctlValue(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max > 0) return max;
    const nr = c.ioctlValue(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    return nr > 0 ? nr : 4;
  } finally {
    closeSync(fd);
  }
}

export interface TscInfo {
  /** Hz. */
  frequency: number;
  scaling: boolean;
}

/** virHostCPUGetTscInfo: KVM_GET_TSC_KHZ of a vCPU in a new VM, and KVM_CAP_TSC_CONTROL. */
export function kvmTscInfo(device = '/dev/kvm'): TscInfo | VirError {
  let kvm: number;
  try {
    kvm = openKvm(device);
  } catch (err) {
    return err as VirError;
  }
  const c = ffi();
  const fds: number[] = [];
  try {
    const vm = c.ioctlValue(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) return virReportSystemError(c.errno(), 'qemu', 'Unable to create KVM VM for TSC probing');
    fds.push(vm);
    const vcpu = c.ioctlValue(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) return virReportSystemError(c.errno(), 'qemu', 'Unable to create KVM vCPU for TSC probing');
    fds.push(vcpu);
    const khz = c.ioctlValue(vcpu, KVM_GET_TSC_KHZ, 0);
    if (khz < 0) return virReportSystemError(c.errno(), 'qemu', 'Unable to probe TSC frequency');
    const scaling = c.ioctlValue(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL);
    if (scaling < 0) return virReportSystemError(c.errno(), 'qemu', 'Unable to query TSC scaling support');
    return { frequency: khz * 1000, scaling: scaling !== 0 };
  } finally {
    for (const fd of fds.reverse()) c.close(fd);
    closeSync(kvm);
  }
}

/** virHostCPUGetMSR: /dev/cpu/0/msr, else KVM_GET_MSRS on /dev/kvm; undefined when unreadable. */
export function hostMsr(index: number, device = '/dev/kvm'): bigint | undefined {
  try {
    const fd = openSync('/dev/cpu/0/msr', constants.O_RDONLY);
    try {
      const b = Buffer.alloc(8);
      if (readSync(fd, b, 0, 8, BigInt(index)) === 8) return b.readBigUInt64LE(0);
    } finally {
      closeSync(fd);
    }
  } catch {}
  let kvm: number;
  try {
    kvm = openSync(device, constants.O_RDONLY);
  } catch {
    return undefined;
  }
  try {
    // struct kvm_msrs { u32 nmsrs; u32 pad; struct kvm_msr_entry { u32 index; u32 reserved; u64 data; } }
    const b = Buffer.alloc(8 + 16);
    b.writeUInt32LE(1, 0);
    b.writeUInt32LE(index, 8);
    const n = ffi().ioctlPtr(kvm, KVM_GET_MSRS, b);
    return n === 1 ? b.readBigUInt64LE(16) : undefined;
  } finally {
    closeSync(kvm);
  }
}
