/**
 * x86ModelFromCPU: the bit set a CPU definition stands for, per feature policy — the model's
 * features plus required and forced ones, minus disabled and forbidden ones (policy `all`), or
 * only the features of one policy. Shared by compare, baseline, update and expansion.
 */

import { virReportError } from '@qvirt/core';
import { X86Data, x86FeatureData } from './data.js';
import { x86Feature, x86Model } from './map.js';
import type { CpuFeaturePolicy, CpuModel, GuestCpu, HostCpuDescription } from './types.js';

/** A CPU definition as the algorithms see it: a host CPU (no policies) or a guest CPU. */
export type AnyCpu = (GuestCpu | HostCpuDescription) & { type?: 'host' | 'guest' };

export interface ModelData {
  model?: CpuModel;
  data: X86Data;
}

const modelDataCache = new Map<string, X86Data>();

/** The bit set of a model of the map. */
export function x86ModelData(model: CpuModel): X86Data {
  let d = modelDataCache.get(model.name);
  if (!d) {
    d = new X86Data();
    for (const f of model.features) {
      const feature = x86Feature(f);
      if (feature) d.add(x86FeatureData(feature));
    }
    modelDataCache.set(model.name, d);
  }
  return d.clone();
}

export function cpuType(cpu: AnyCpu): 'host' | 'guest' {
  return cpu.type ?? 'guest';
}

/**
 * x86ModelFromCPU. `policy` 'all' is libvirt's -1: everything the CPU has (model + force/require
 * − disable/forbid, optional ignored).
 */
export function x86ModelFromCPU(cpu: AnyCpu, policy: CpuFeaturePolicy | 'all'): ModelData {
  if (cpuType(cpu) === 'host' && policy !== 'require' && policy !== 'all') return { data: new X86Data() };
  let out: ModelData = { data: new X86Data() };
  if (cpu.model && (policy === 'require' || policy === 'all')) {
    const model = x86Model(cpu.model);
    if (!model) throw virReportError('INTERNAL_ERROR', 'cpu', `Unknown CPU model ${cpu.model}`);
    out = { model, data: x86ModelData(model) };
  }
  for (const f of cpu.features) {
    // A host CPU's features carry no policy (libvirt's -1), which counts as require.
    const fpol: CpuFeaturePolicy = cpuType(cpu) === 'host' ? hostPolicy(f.policy) : (f.policy ?? 'require');
    if ((policy === 'all' && fpol === 'optional') || (policy !== 'all' && fpol !== policy)) continue;
    const feature = x86Feature(f.name);
    if (!feature) throw virReportError('INTERNAL_ERROR', 'cpu', `Unknown CPU feature ${f.name}`);
    if (policy === 'all') {
      if (fpol === 'force' || fpol === 'require') out.data.add(x86FeatureData(feature));
      else if (fpol === 'disable' || fpol === 'forbid') out.data.subtract(x86FeatureData(feature));
    } else {
      out.data.add(x86FeatureData(feature));
    }
  }
  return out;
}

/**
 * Host CPU features: libvirt stores no policy for a host CPU definition parsed from XML (all
 * present), but host-model CPUs passed around as host descriptions keep require/disable.
 */
function hostPolicy(p: CpuFeaturePolicy | undefined): CpuFeaturePolicy {
  return p === 'disable' ? 'disable' : 'require';
}

/**
 * virCPUx86CheckFeature: whether a CPU definition (model + features by policy) has a feature.
 * Throws libvirt's error for a feature the map does not know.
 */
export function x86CheckFeature(cpu: AnyCpu, name: string): boolean {
  const feature = x86Feature(name);
  if (!feature) throw virReportError('INTERNAL_ERROR', 'cpu', `unknown CPU feature ${name}`);
  return x86ModelFromCPU(cpu, 'all').data.isSubset(x86FeatureData(feature));
}
