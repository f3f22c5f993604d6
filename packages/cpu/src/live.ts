/**
 * virCPUx86UpdateLive and virCPUx86Translate: a guest CPU compared with what the hypervisor
 * actually gave the guest (CPUID bits QEMU enabled / disabled), and a CPU model the hypervisor
 * does not offer replaced by the closest one it does.
 */

import { virReportError } from '@qvirt/core';
import { type X86Data, x86DataSetSignature, x86FeatureData, x86VendorData } from './data.js';
import { x86Decode } from './decode.js';
import { x86Features, x86Model } from './map.js';
import { x86ModelFromCPU } from './model-data.js';
import type { CpuFeatureRef, GuestCpu, HypervisorCpuModel } from './types.js';

function updateFeature(features: CpuFeatureRef[], name: string, policy: CpuFeatureRef['policy']): void {
  const f = features.find((x) => x.name === name);
  if (f) f.policy = policy;
  else features.push({ name, policy });
}

/**
 * virCPUUpdateLive for x86 (custom CPUs, or any CPU with `check='full'`): features the
 * hypervisor enabled or disabled against the definition are written into it (returned copy);
 * with `check='full'` any difference is refused with libvirt's "guest CPU doesn't match
 * specification" error. Returns undefined when libvirt leaves the CPU alone.
 */
export function x86UpdateLive(cpu: GuestCpu, enabled?: X86Data, disabled?: X86Data): GuestCpu | undefined {
  const mode = cpu.mode ?? 'custom';
  if (mode !== 'custom' && cpu.check !== 'full') return undefined;
  const out: GuestCpu = { ...cpu, features: cpu.features.map((f) => ({ ...f })) };
  const passthrough = mode === 'host-passthrough' || mode === 'maximum';
  const model = x86ModelFromCPU(cpu, 'all').data;
  const modelDisabled = passthrough ? x86ModelFromCPU(cpu, 'disable').data : undefined;
  const added: string[] = [];
  const removed: string[] = [];
  for (const f of x86Features()) {
    const fd = x86FeatureData(f);
    let expected: 'require' | 'disable' | undefined;
    if (model.isSubset(fd)) expected = 'require';
    else if (!passthrough || modelDisabled?.isSubset(fd)) expected = 'disable';
    if (expected === 'disable' && enabled?.isSubset(fd)) {
      if (cpu.check === 'full') added.push(f.name);
      else updateFeature(out.features, f.name, 'require');
    }
    if (disabled?.isSubset(fd) || (expected === 'require' && !enabled?.isSubset(fd))) {
      if (cpu.check === 'full') removed.push(f.name);
      else updateFeature(out.features, f.name, 'disable');
    }
  }
  for (const r of (cpu.model ? x86Model(cpu.model)?.removedFeatures : undefined) ?? []) {
    if (!out.features.some((f) => f.name === r)) out.features.push({ name: r, policy: 'disable' });
  }
  const prefix = "guest CPU doesn't match specification";
  if (added.length && removed.length) {
    throw virReportError(
      'OPERATION_FAILED',
      'cpu',
      `${prefix}: extra features: ${added.join(',')}, missing features: ${removed.join(',')}`,
    );
  }
  if (added.length)
    throw virReportError('OPERATION_FAILED', 'cpu', `${prefix}: extra features: ${added.join(',')}`);
  if (removed.length)
    throw virReportError('OPERATION_FAILED', 'cpu', `${prefix}: missing features: ${removed.join(',')}`);
  if (cpu.check === 'full' && disabled && !disabled.isEmpty())
    throw virReportError('OPERATION_FAILED', 'cpu', prefix);
  return out;
}

/**
 * virCPUTranslate for x86: a custom CPU whose model the hypervisor does not offer becomes the
 * closest offered model (the CPU's own features kept on top), when its fallback allows it.
 * Returns the CPU unchanged when nothing needs translating.
 */
export function x86Translate(cpu: GuestCpu, models: ReadonlyArray<string | HypervisorCpuModel>): GuestCpu {
  const mode = cpu.mode ?? 'custom';
  if (mode === 'host-model' || mode === 'host-passthrough' || mode === 'maximum') return cpu;
  const offered = models.map((m) => (typeof m === 'string' ? { name: m } : m));
  if (!cpu.model || offered.some((m) => m.name === cpu.model)) return cpu;
  if (cpu.fallback === 'forbid') {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'cpu',
      `CPU model ${cpu.model} is not supported by hypervisor`,
    );
  }
  const m = x86ModelFromCPU(cpu, 'all');
  const data = m.data;
  if (m.model?.vendor) data.add(x86VendorData(m.model.vendor));
  const sig = m.model?.signatures[0];
  if (sig) x86DataSetSignature(data, sig.family, sig.model, sig.stepping?.[0] ?? 0);
  const decoded = x86Decode(data, { type: 'guest', models: offered });
  const features: CpuFeatureRef[] = decoded.features.map((f) => ({ ...f }));
  for (const f of cpu.features) updateFeature(features, f.name, f.policy);
  // the CPU keeps its own vendor (virCPUDefStealModel with keepVendor)
  return { ...cpu, model: decoded.model, features };
}
