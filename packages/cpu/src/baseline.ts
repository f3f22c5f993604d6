/**
 * virCPUx86Baseline: the richest CPU all given CPUs can run — the intersection of their bit
 * sets (optionally limited to a feature list), with the common vendor, decoded back into a
 * model (preferring the models the CPUs named) plus features.
 */

import { virReportError } from '@qvirt/core';
import { X86Data, x86FeatureData, x86VendorData } from './data.js';
import { x86Decode } from './decode.js';
import { x86Feature } from './map.js';
import { type AnyCpu, x86ModelFromCPU } from './model-data.js';
import type { GuestCpu, HypervisorCpuModel } from './types.js';

export interface X86BaselineOptions {
  /** Models the hypervisor offers; absent: every model of the map. */
  models?: ReadonlyArray<string | HypervisorCpuModel>;
  /** Limit the result to these features (virConnectBaselineHypervisorCPU's host features). */
  features?: readonly string[];
  /** Drop features that block migration. */
  migratable?: boolean;
}

/** virCPUBaseline (its argument checks) and virCPUx86Baseline. */
export function x86Baseline(cpus: readonly AnyCpu[], opts: X86BaselineOptions = {}): GuestCpu {
  if (cpus.length < 1) throw virReportError('INVALID_ARG', 'cpu', 'no CPUs given');
  cpus.forEach((c, i) => {
    if (!c.model) throw virReportError('INVALID_ARG', 'cpu', `no CPU model specified at index ${i}`);
  });
  const first = cpus[0] as AnyCpu;
  const base = x86ModelFromCPU(first, 'all').data;
  let vendor: string | undefined;
  let outputVendor = true;
  if (!first.vendor) outputVendor = false;
  else {
    try {
      x86VendorData(first.vendor);
    } catch {
      throw virReportError('OPERATION_FAILED', 'cpu', `Unknown CPU vendor ${first.vendor}`);
    }
    vendor = first.vendor;
  }
  const modelNames: string[] = first.model ? [first.model] : [];
  for (const cpu of cpus.slice(1)) {
    if (cpu.model && !modelNames.includes(cpu.model)) modelNames.push(cpu.model);
    const m = x86ModelFromCPU(cpu, 'all');
    if (cpu.vendor && m.model?.vendor && cpu.vendor !== m.model.vendor) {
      throw virReportError(
        'OPERATION_FAILED',
        'cpu',
        `CPU vendor ${m.model.vendor} of model ${m.model.name} differs from vendor ${cpu.vendor}`,
      );
    }
    let vn: string | undefined;
    if (cpu.vendor) vn = cpu.vendor;
    else {
      outputVendor = false;
      vn = m.model?.vendor;
    }
    if (vn) {
      if (!vendor) {
        try {
          x86VendorData(vn);
        } catch {
          throw virReportError('OPERATION_FAILED', 'cpu', `Unknown CPU vendor ${vn}`);
        }
        vendor = vn;
      } else if (vendor !== vn) {
        throw virReportError('OPERATION_FAILED', 'cpu', 'CPU vendors do not match');
      }
    }
    base.intersect(m.data);
  }
  if (opts.features) {
    const feat = new X86Data();
    for (const n of opts.features) {
      const f = x86Feature(n);
      if (f) feat.add(x86FeatureData(f));
    }
    base.intersect(feat);
  }
  if (base.isEmpty()) throw virReportError('OPERATION_FAILED', 'cpu', 'CPUs are incompatible');
  if (vendor) base.add(x86VendorData(vendor));

  const decoded = x86Decode(base, {
    type: 'guest',
    preferred: modelNames,
    ...(opts.models ? { models: opts.models } : {}),
    ...(opts.migratable ? { migratable: true } : {}),
  });
  const out: GuestCpu = {
    type: 'guest',
    mode: 'custom',
    match: 'exact',
    // fallback stays libvirt's default (allow) unless the CPUs named this model alone
    fallback: modelNames.length === 1 && decoded.model === modelNames[0] ? 'forbid' : 'allow',
    model: decoded.model,
    features: decoded.features,
  };
  if (outputVendor && decoded.vendor) out.vendor = decoded.vendor;
  return out;
}
