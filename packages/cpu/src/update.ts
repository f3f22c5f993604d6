/**
 * virCPUUpdate / virCPUx86Update and virCPUExpandFeatures: a guest CPU given relative to the
 * host (host-model, `match='minimum'`, optional features) made absolute, and a model expanded
 * into its full feature list.
 */

import { virReportError } from '@qvirt/core';
import { x86FeatureData } from './data.js';
import { x86Feature, x86Model } from './map.js';
import { x86ModelData, x86ModelFromCPU } from './model-data.js';
import type { CpuFeatureRef, GuestCpu, HostCpuDescription } from './types.js';

/** virCPUDefUpdateFeature: set the policy of a listed feature, or append it. */
function updateFeature(features: CpuFeatureRef[], name: string, policy: CpuFeatureRef['policy']): void {
  const f = features.find((x) => x.name === name);
  if (f) {
    if (policy === undefined) delete f.policy;
    else f.policy = policy;
  } else features.push({ name, ...(policy !== undefined ? { policy } : {}) });
}

/** virCPUx86DisableRemovedFeatures: list the model's removed features as disabled. */
function disableRemoved(cpu: GuestCpu): void {
  const model = cpu.model ? x86Model(cpu.model) : undefined;
  for (const r of model?.removedFeatures ?? []) {
    if (!cpu.features.some((f) => f.name === r)) cpu.features.push({ name: r, policy: 'disable' });
  }
}

/** x86UpdateHostModel: the host-model CPU with the guest's own features applied on top. */
function updateHostModel(guest: GuestCpu, host: HostCpuDescription): void {
  const features: CpuFeatureRef[] = host.features.map((f) => ({
    name: f.name,
    policy: f.policy ?? 'require',
  }));
  for (const f of guest.features) updateFeature(features, f.name, f.policy);
  const keepVendor = guest.mode === 'custom';
  guest.model = host.model;
  guest.features = features;
  if (!keepVendor) {
    if (host.vendor) guest.vendor = host.vendor;
    else delete guest.vendor;
  }
  guest.mode = 'custom';
  guest.match = 'exact';
}

/**
 * virCPUUpdate for x86: returns the updated copy of `guest`. `host` is the host-model CPU of
 * the guest's emulator and virt type (libvirt passes its migratable form).
 */
export function x86UpdateGuest(guest: GuestCpu, host: HostCpuDescription | undefined): GuestCpu {
  const out: GuestCpu = { ...guest, features: guest.features.map((f) => ({ ...f })) };
  const mode = out.mode ?? 'custom';
  if (mode === 'host-passthrough' || mode === 'maximum') return out;
  const relative =
    mode === 'host-model' || out.match === 'minimum' || out.features.some((f) => f.policy === 'optional');
  if (relative) {
    if (!host) throw virReportError('CONFIG_UNSUPPORTED', 'cpu', 'unknown host CPU model');
    const hostData = x86ModelFromCPU(host, 'all').data;
    for (const f of out.features) {
      if (f.policy !== 'optional') continue;
      const feature = x86Feature(f.name);
      if (!feature) throw virReportError('INTERNAL_ERROR', 'cpu', `unknown CPU feature ${f.name}`);
      f.policy = hostData.isSubset(x86FeatureData(feature)) ? 'require' : 'disable';
    }
    if (mode === 'host-model' || out.match === 'minimum') updateHostModel(out, host);
  }
  if (!out.model || !x86Model(out.model)) {
    throw virReportError('INTERNAL_ERROR', 'cpu', `Unknown CPU model ${out.model ?? ''}`);
  }
  disableRemoved(out);
  return out;
}

/**
 * virCPUExpandFeatures for x86: every feature the model implies listed explicitly (require),
 * the CPU's own require/disable features applied, removed features disabled (guest CPUs), the
 * list sorted by name. A host CPU (`type: 'host'`) keeps features without policy.
 */
export function x86ExpandFeatures<T extends GuestCpu | (HostCpuDescription & { type?: 'host' | 'guest' })>(
  cpu: T,
): T {
  const host = cpu.type === 'host';
  if (!cpu.model) throw virReportError('INTERNAL_ERROR', 'cpu', 'unknown CPU model (null)');
  const model = x86Model(cpu.model);
  if (!model) throw virReportError('INTERNAL_ERROR', 'cpu', `unknown CPU model ${cpu.model}`);
  const data = x86ModelData(model);
  const features: CpuFeatureRef[] = [];
  for (const name of model.features) {
    const f = x86Feature(name);
    if (f && data.isSubset(x86FeatureData(f))) {
      data.subtract(x86FeatureData(f));
      features.push(host ? { name } : { name, policy: 'require' });
    }
  }
  for (const f of cpu.features) {
    const policy = f.policy ?? (host ? undefined : 'require');
    if (!host && policy !== 'require' && policy !== 'disable') continue;
    updateFeature(features, f.name, host ? undefined : policy);
  }
  const out = { ...cpu, features };
  if (!host) disableRemoved(out as GuestCpu);
  out.features.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/**
 * The host CPU libvirt checks guest CPUs against on an accelerated (KVM) host
 * (virQEMUCapsInitHostCPUModel's `fullCPU`, VIR_QEMU_CAPS_HOST_CPU_FULL): the host CPU as
 * libvirt decodes it from CPUID (capabilities' `<host><cpu>`) plus every feature the expanded
 * host-model CPU requires. Without KVM libvirt uses the host-model CPU itself.
 */
export function x86FullHostCpu(
  hostCpu: HostCpuDescription,
  hostModel: HostCpuDescription,
): HostCpuDescription {
  const features: CpuFeatureRef[] = hostCpu.features.map((f) => ({ name: f.name }));
  const expanded = x86ExpandFeatures({ ...hostModel, type: 'guest' as const, features: hostModel.features });
  for (const f of expanded.features) {
    if (f.policy === 'require' && !features.some((x) => x.name === f.name)) features.push({ name: f.name });
  }
  return {
    ...(hostCpu.arch ? { arch: hostCpu.arch } : {}),
    ...(hostCpu.model ? { model: hostCpu.model } : {}),
    ...(hostCpu.vendor ? { vendor: hostCpu.vendor } : {}),
    features,
  };
}
