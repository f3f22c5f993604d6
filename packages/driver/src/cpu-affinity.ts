/**
 * Where a domain's threads may run, as libvirt 9.0 decides it (qemu_process.c qemuProcessSetupPid,
 * qemuProcessSetupEmulator / SetupVcpu / SetupIOThread; util/virprocess.c virProcessSetAffinity):
 *
 *   the thread's own pin (`<emulatorpin>`, `<vcpupin>`, `<iothreadpin>`)
 *   else the domain's `<vcpu cpuset=…>`
 *   else every online host CPU, set "quietly" (a failure is ignored: qvirtd itself may be pinned)
 *
 * The chosen set is both the thread group's `cpuset.cpus` (when the cpuset controller is there)
 * and the thread's scheduler affinity. Node has no sched_setaffinity: it goes through koffi
 * (libc's), loaded on first use as net-tap.ts does, so a start that needs no change (nothing
 * pinned, qvirtd on every CPU) loads no native code and makes no call.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type DomainDef, virReportSystemError } from '@qvirt/core';
import { formatCpuset, parseCpuset } from './cpumap.js';

export type ThreadRole =
  | { kind: 'emulator' }
  | { kind: 'vcpu'; id: number }
  | { kind: 'iothread'; id: number };

interface CpuTune {
  vcpupin?: Array<{ vcpu?: number | string; cpuset?: string }>;
  emulatorpin?: { cpuset?: string };
  iothreadpin?: Array<{ iothread?: number | string; cpuset?: string }>;
}

/** virHostCPUGetOnlineBitmap: `/sys/devices/system/cpu/online`. */
export function hostOnlineCpus(): number[] {
  try {
    return parseCpuset(readFileSync('/sys/devices/system/cpu/online', 'utf8').trim());
  } catch {
    return [];
  }
}

/**
 * qemuProcessSetupPid's "use_cpumask": the thread's pin, else `<vcpu cpuset>`; undefined when the
 * definition names none (the thread then gets every online CPU, quietly).
 */
export function definedCpumask(def: DomainDef, role: ThreadRole): number[] | undefined {
  const tune = (def.cputune ?? {}) as CpuTune;
  let pin: string | undefined;
  if (role.kind === 'emulator') pin = tune.emulatorpin?.cpuset;
  else if (role.kind === 'vcpu') pin = tune.vcpupin?.find((p) => Number(p.vcpu) === role.id)?.cpuset;
  else pin = tune.iothreadpin?.find((p) => Number(p.iothread) === role.id)?.cpuset;
  // placement='auto' (numad) would take its advisory set here; qvirt has no numad
  const cpuset = pin ?? (def.vcpu as { cpuset?: string } | undefined)?.cpuset;
  return cpuset ? parseCpuset(cpuset) : undefined;
}

/** The CPUs a thread may run on now (`Cpus_allowed_list`, as virProcessGetAffinity reads it). */
export function threadAffinity(pid: number, tid = pid): number[] | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    const list = /^Cpus_allowed_list:\s*(\S*)/m.exec(status)?.[1];
    return list === undefined ? undefined : list === '' ? [] : parseCpuset(list);
  } catch {
    return undefined;
  }
}

const sameSet = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((c, i) => c === b[i]);

type SchedSetAffinity = (pid: number, size: number, mask: Buffer) => number;
let setaffinity: { call: SchedSetAffinity; errno: () => number } | undefined;

function libc(): { call: SchedSetAffinity; errno: () => number } {
  if (setaffinity) return setaffinity;
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(sig: string): (...a: unknown[]) => unknown };
    errno(): number;
  };
  const fn = koffi.load('libc.so.6').func('int sched_setaffinity(int pid, size_t size, void *mask)');
  setaffinity = { call: (p, s, m) => fn(p, s, m) as number, errno: () => koffi.errno() };
  return setaffinity;
}

/**
 * virProcessSetAffinity: sched_setaffinity of one thread, the mask grown while the kernel answers
 * EINVAL for its size. `quiet`: a failure is ignored (libvirt's reset to every CPU).
 */
export function virProcessSetAffinity(tid: number, cpus: readonly number[], quiet = false): void {
  const { call, errno } = libc();
  for (let ncpus = 1024; ; ncpus <<= 2) {
    const mask = Buffer.alloc(ncpus / 8);
    for (const c of cpus) if (c < ncpus) mask[c >> 3]! |= 1 << (c & 7);
    if (call(tid, mask.length, mask) === 0) return;
    const e = errno();
    if (e === 22 && ncpus < 1024 << 8) continue;
    if (quiet) return;
    throw virReportSystemError(e, 'qemu', `cannot set CPU affinity on process ${tid}`);
  }
}

/**
 * The affinity step of qemuProcessSetupPid for one thread: its defined mask, else every online
 * CPU quietly. Asked of the kernel only when the thread's current set differs (a thread inherits
 * its creator's, so at a plain start nothing differs and nothing is called).
 */
export function applyThreadAffinity(pid: number, tid: number, wanted: number[] | undefined): void {
  const target = wanted ?? hostOnlineCpus();
  if (target.length === 0) return;
  const now = threadAffinity(pid, tid);
  if (now && sameSet(now, target)) return;
  virProcessSetAffinity(tid, target, wanted === undefined);
}

/** `cpuset.cpus` text for a mask (virBitmapFormat). */
export function cpusetText(cpus: readonly number[]): string {
  return formatCpuset([...cpus]);
}
