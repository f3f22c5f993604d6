/**
 * The node APIs of the QEMU driver (qemuNodeGetInfo, qemuNodeGetCellsFreeMemory,
 * qemuNodeGetFreeMemory, qemuNodeGetMemoryStats, qemuNodeGetCPUStats, qemuNodeGetCPUMap,
 * qemuConnectGetMaxVcpus, qemuConnectGetVersion): libvirt's virhostcpu/virhostmem readers, here
 * @qvirt/host-prober's, over this host's /proc and /sys, with libvirt's errors.
 */

import { virCheckFlags, virReportError, virReportInvalidArg } from '@qvirt/core';
import {
  type NodeInfo,
  type NodeStatsReply,
  type TypedParamsReply,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import {
  cellsFreeMemory,
  cpuMap,
  cpuStats,
  type HostFs,
  hostArch,
  hostMemory,
  hostNodeInfo,
  kvmMaxVcpus,
  memoryParameters,
  memoryStats,
  NODE_MEMORY_PARAMETERS_NUM,
  realHostFs,
} from '@qvirt/host-prober';

/** VIR_NODE_CPU_STATS_ALL_CPUS / VIR_NODE_MEMORY_STATS_ALL_CELLS. */
const ALL = -1;

/** virReportInvalidArg: libvirt's message as is, with no "invalid argument" prefix. */
const invalidArg = (message: string) => virReportInvalidArg('none', message);

/** qemuNodeGetInfo → virCapabilitiesGetNodeInfo. */
export function nodeGetInfo(fs: HostFs = realHostFs()): NodeInfo {
  const info = hostNodeInfo(fs, hostArch());
  if (info.cpus === 0) throw virReportError('INTERNAL_ERROR', 'none', 'no CPUs found');
  return info;
}

/** virNodeGetCellsFreeMemory: free bytes per cell from `startCell`. */
export function nodeGetCellsFreeMemory(
  startCell: number,
  maxcells: number,
  fs: HostFs = realHostFs(),
): number[] {
  if (maxcells <= 0) throw invalidArg('maxCells in virNodeGetCellsFreeMemory must be greater than zero');
  if (startCell < 0)
    throw invalidArg('startCell in virNodeGetCellsFreeMemory must be greater than or equal to zero');
  const r = cellsFreeMemory(fs, startCell, maxcells);
  if (!Array.isArray(r)) throw virReportError('INTERNAL_ERROR', 'none', r.error);
  return r;
}

/** virNodeGetFreeMemory (virHostMemGetInfo's free memory), bytes. */
export function nodeGetFreeMemory(fs: HostFs = realHostFs()): number {
  return hostMemory(fs).free;
}

const MEMORY_STATS_ALL = 4;
const MEMORY_STATS_CELL = 2;
const CPU_STATS = 4;

/** virNodeGetMemoryStats (virHostMemGetStats): with nparams 0, how many there are. */
export function nodeGetMemoryStats(
  nparams: number,
  cellNum: number,
  flags: number,
  fs: HostFs = realHostFs(),
): NodeStatsReply {
  if (nparams < 0) throw invalidArg('nparams in virNodeGetMemoryStats must be greater than or equal to zero');
  virCheckFlags(flags, 0, 'virHostMemGetStats');
  const r = memoryStats(fs, cellNum);
  if (!Array.isArray(r)) {
    if (r.error === 'cell')
      throw invalidArg(`cellNum in virHostMemGetStats must be less than or equal to ${r.max}`);
    throw virReportError('SYSTEM_ERROR', 'none', `cannot open ${r.path}: No such file or directory`);
  }
  const want = cellNum === ALL || r.length === MEMORY_STATS_ALL ? MEMORY_STATS_ALL : MEMORY_STATS_CELL;
  if (nparams === 0) return { params: [], nparams: want };
  if (nparams !== want) throw invalidArg(`nparams in virHostMemGetStatsLinux must be ${want}`);
  if (r.length === 0) throw virReportError('INTERNAL_ERROR', 'none', 'no available memory line found');
  return { params: r, nparams: r.length };
}

/** virNodeGetCPUStats (virHostCPUGetStatsLinux): with nparams 0, how many there are. */
export function nodeGetCPUStats(
  cpuNum: number,
  nparams: number,
  flags: number,
  fs: HostFs = realHostFs(),
): NodeStatsReply {
  if (nparams < 0) throw invalidArg('nparams in virNodeGetCPUStats must be greater than or equal to zero');
  if (cpuNum < 0 && cpuNum !== ALL)
    throw invalidArg('cpuNum in virNodeGetCPUStats must be greater than or equal to -1');
  virCheckFlags(flags, 0, 'virHostCPUGetStats');
  if (nparams === 0) return { params: [], nparams: CPU_STATS };
  if (nparams !== CPU_STATS)
    throw invalidArg(`nparams in virHostCPUGetStatsLinux must be equal to ${CPU_STATS}`);
  const r = cpuStats(fs, cpuNum);
  if (!r) throw invalidArg('Invalid cpuNum in virHostCPUGetStatsLinux');
  // hypers travel as plain numbers; nanoseconds of CPU time stay well inside 2^53 for years
  return { params: r.map((p) => ({ field: p.field, value: Number(p.value) })), nparams: r.length };
}

/** virNodeGetCPUMap: the present CPUs, a bitmap of the online ones (when asked), how many are online. */
export function nodeGetCPUMap(
  needMap: number,
  needOnline: number,
  flags: number,
  fs: HostFs = realHostFs(),
): { cpumap: Uint8Array; online: number; ret: number } {
  virCheckFlags(flags, 0, 'virHostCPUGetMap');
  const { cpus, online } = cpuMap(fs);
  const map = new Uint8Array(Math.ceil(cpus / 8));
  for (const c of online) map[c >> 3]! |= 1 << (c & 7);
  return { cpumap: needMap ? map : new Uint8Array(0), online: needOnline ? online.length : 0, ret: cpus };
}

/** virNodeGetMemoryParameters (virHostMemGetParameters): the KSM knobs; nparams 0 asks how many. */
export function nodeGetMemoryParameters(
  nparams: number,
  flags: number,
  fs: HostFs = realHostFs(),
): TypedParamsReply {
  if (nparams < 0)
    throw invalidArg('nparams in virNodeGetMemoryParameters must be greater than or equal to zero');
  virCheckFlags(flags, VIR_TYPED_PARAM_STRING_OKAY, 'virHostMemGetParameters');
  if (nparams === 0) return { params: [], nparams: NODE_MEMORY_PARAMETERS_NUM };
  const params = memoryParameters(fs, nparams).map((p) => ({
    field: p.field,
    type: p.uint ? VIR_TYPED_PARAM.UINT : VIR_TYPED_PARAM.ULLONG,
    value: p.value,
  }));
  return { params, nparams: params.length };
}

/** qemuConnectGetMaxVcpus: 16 for TCG, KVM's own limit for KVM. */
export function connectGetMaxVcpus(type: string | null, kvmDevice = '/dev/kvm'): number {
  if (type === null || type.toLowerCase() === 'qemu') return 16;
  if (type.toLowerCase() === 'kvm') return kvmMaxVcpus(kvmDevice);
  throw virReportError('INVALID_ARG', 'qemu', `unknown type '${type}'`);
}

/** What the host probe needs of a driver instance. */
export interface ProbeContext {
  user: string | undefined;
  group: string | undefined;
  cacheDir: string;
  env: NodeJS.ProcessEnv;
}

/**
 * virQEMUCapsGetDefaultVersion: the version of the emulator the capabilities offer for the host's
 * arch (QEMU's query-version, micro included: 7.2.22 is 7002022).
 */
export async function hostEmulatorVersion(ctx: ProbeContext): Promise<number> {
  const { capsFor, probeHost, resolveQemuIds } = await import('@qvirt/host-prober');
  let ids: ReturnType<typeof resolveQemuIds>;
  try {
    ids = resolveQemuIds(ctx.user, ctx.group);
  } catch {
    ids = resolveQemuIds(undefined, undefined);
  }
  const probe = await probeHost({
    ...ids,
    cacheDir: ctx.cacheDir,
    path: ctx.env.PATH ?? '/usr/bin:/bin',
    env: ctx.env,
  });
  const arch = hostArch();
  const caps = capsFor(probe, arch);
  if (!caps) throw virReportError('INTERNAL_ERROR', 'qemu', `Cannot find suitable emulator for ${arch}`);
  return caps.version;
}
