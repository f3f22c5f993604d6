/**
 * This host's description for conversion (`HostDescription` of `@qvirt/core`): the NUMA nodes
 * from sysfs (what libnuma, and so libvirt's virNumaNodeIsAvailable, sees) and the host CPU's
 * arch, vendor, features and TSC. Host-model CPUs stay unknown: libvirt builds them by decoding QEMU's
 * query-cpu-model-expansion against its CPU model map, which qvirt does not have, so a host-model
 * guest keeps being refused rather than started with a guessed CPU.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { HostDescription, HostNumaNode } from '@qvirt/core';
import { type HostInfo, readHostInfo } from './capabilities.js';

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** A sysfs CPU list (`0-3,8`) to its members. */
export function parseSysfsList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

/**
 * The host's NUMA nodes from `/sys/devices/system/node/node<N>` (`cpulist`, `meminfo`). A kernel
 * without NUMA has no such directory; libnuma then reports one node 0 holding every CPU, as
 * libvirt's capabilities do (virCapabilitiesHostNUMAInitFake).
 */
export function readHostNuma(sysRoot = ''): { nodes: HostNumaNode[] } {
  const base = `${sysRoot}/sys/devices/system/node`;
  let ids: number[] = [];
  try {
    ids = readdirSync(base)
      .map((d) => /^node(\d+)$/.exec(d)?.[1])
      .filter((d): d is string => d !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {}
  if (ids.length === 0) {
    const online = read(`${sysRoot}/sys/devices/system/cpu/online`);
    return { nodes: [{ id: 0, cpus: online ? parseSysfsList(online) : [] }] };
  }
  return {
    nodes: ids.map((id) => {
      const node: HostNumaNode = { id, cpus: parseSysfsList(read(`${base}/node${id}/cpulist`) ?? '') };
      const total = /MemTotal:\s*(\d+)\s*kB/.exec(read(`${base}/node${id}/meminfo`) ?? '')?.[1];
      if (total !== undefined) node.memoryKiB = Number(total);
      return node;
    }),
  };
}

/** This host's description: NUMA nodes and host CPU (host-model CPUs unknown, see above). */
export function readHostDescription(opts: { sysRoot?: string; info?: HostInfo } = {}): HostDescription {
  const info = opts.info ?? readHostInfo(opts.sysRoot);
  return {
    numa: readHostNuma(opts.sysRoot),
    cpu: {
      arch: info.cpu.arch,
      ...(info.cpu.model ? { model: info.cpu.model } : {}),
      ...(info.cpu.vendor ? { vendor: info.cpu.vendor } : {}),
      features: (info.cpu.features ?? []).map((name) => ({ name })),
      // virHostCPUGetTscInfo (a host with invtsc): what qemuProcessStartValidateTSC checks against
      ...(info.cpu.counter
        ? { tsc: { frequency: info.cpu.counter.frequency, scaling: info.cpu.counter.scaling ? 'yes' : 'no' } }
        : {}),
    },
  };
}
