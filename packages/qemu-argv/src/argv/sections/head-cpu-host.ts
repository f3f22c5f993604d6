/**
 * The guest CPU a start uses when it depends on the host (libvirt's qemuProcessUpdateGuestCPU):
 * `<cpu mode='host-model'>` and `<cpu match='minimum'>` become the host-model CPU of the guest's
 * emulator and virt type (virCPUUpdate → x86UpdateHostModel), taken in its migratable form
 * (VIR_QEMU_CAPS_HOST_CPU_MIGRATABLE), with the guest's own features and vendor_id applied on
 * top. Then, for every x86 guest CPU, the features QEMU never knew are filtered out
 * (virQEMUCapsCPUFilterFeatures).
 */
import { type CpuFeaturePolicy, type HostModelCpu, hostModelFor } from '@qvirt/core';
import { x86CheckFeature } from '@qvirt/cpu';
import type { Build } from '../build.js';
import { unsupported } from './head-util.js';

export interface GuestCpuFeature {
  name: string;
  policy?: CpuFeaturePolicy | undefined;
}

/** The CPU model part of `-cpu`: a model, an optional vendor_id and features in order. */
export interface GuestCpuModel {
  model: string;
  vendorId?: string | undefined;
  features: GuestCpuFeature[];
}

/** virQEMUCapsCPUFilterFeatures: x86 features never passed to QEMU. */
const NEVER_PASSED = new Set(['cmt', 'mbm_total', 'mbm_local', 'osxsave', 'ospke']);

export function filterX86Features(features: GuestCpuFeature[]): GuestCpuFeature[] {
  return features.filter((f) => !NEVER_PASSED.has(f.name));
}

/** The guest's host-model CPU, undefined when the host has none for its emulator and virt type. */
export function guestHostModel(b: Pick<Build, 'def' | 'ctx'>): HostModelCpu | undefined {
  const host = b.ctx.host;
  if (!host) return undefined;
  const emulator = b.def.devices?.emulator ?? b.ctx.caps.emulator;
  return hostModelFor(host, {
    arch: b.def.os?.type?.arch ?? b.ctx.caps.arch,
    virtType: b.def.type ?? 'qemu',
    emulator,
  });
}

/**
 * The migratable copy of the host-model CPU: features QEMU leaves out of a migratable CPU are
 * not required of the guest (virQEMUCapsInitCPUModel with migratable, which skips them).
 */
function migratable(host: HostModelCpu, nonMigratable: readonly string[]): GuestCpuFeature[] {
  if (host.migratable) return host.migratable.features.map((f) => ({ name: f.name, policy: f.policy }));
  return host.features
    .filter((f) => !(f.policy === 'require' && nonMigratable.includes(f.name)))
    .map((f) => ({ name: f.name, policy: f.policy }));
}

/** virCPUDefUpdateFeature: an existing feature takes the new policy in place, a new one is appended. */
function updateFeature(features: GuestCpuFeature[], f: GuestCpuFeature): void {
  const existing = features.find((x) => x.name === f.name);
  if (existing) existing.policy = f.policy;
  else features.push({ name: f.name, policy: f.policy });
}

/**
 * virCPUUpdate for a host-model or minimum-match guest CPU (x86UpdateHostModel): the host model
 * with the guest's features applied and the guest's vendor_id. Returns undefined for a CPU that
 * does not depend on the host model, or when the host's host-model CPUs are not known. Throws
 * libvirt's "unknown host CPU model" when the host has no host-model CPU for a minimum-match guest.
 */
export function hostModelGuestCpu(b: Pick<Build, 'def' | 'ctx'>): GuestCpuModel | undefined {
  const c = b.def.cpu;
  const host = b.ctx.host;
  if (!c || !host?.hostModels) return undefined;
  const mode = c.mode ?? 'custom';
  if (mode !== 'host-model' && !(mode === 'custom' && c.match === 'minimum' && c.model?.value))
    return undefined;
  const hostModel = guestHostModel(b);
  if (!hostModel) throw unsupported('unknown host CPU model');
  const features = migratable(hostModel, host.nonMigratableFeatures ?? []);
  const model = hostModel.migratable?.model ?? hostModel.model;
  const migratableModel = { model, features: features.map((f) => ({ ...f })) };
  for (const f of c.feature ?? []) {
    // optional features are resolved against the migratable host model's CPUID bits: present
    // (the model's or required) → require, else disable (virCPUx86Update → x86FeatureInData)
    let policy = f.policy;
    if (policy === 'optional')
      policy = x86CheckFeature(migratableModel, f.name ?? '') ? 'require' : 'disable';
    updateFeature(features, { name: f.name ?? '', policy: policy ?? 'require' });
  }
  return { model, vendorId: c.model?.vendor_id, features };
}
