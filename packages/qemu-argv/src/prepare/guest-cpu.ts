/**
 * qemuProcessUpdateGuestCPU: at start (and domxml-to-native) a host-model CPU, or a custom CPU
 * with `match='minimum'`, becomes the host-model CPU of the guest's emulator and virt type as a
 * plain custom CPU (virCPUUpdate sets mode custom, match exact), so the running definition says
 * which CPU the guest got and the command line is built from it. Without a host description, or
 * when the host has no host-model CPU for the guest, the definition is left as it is and the
 * command line builder refuses it with libvirt's message.
 *
 * Before that, a CPU with checks on is compared with the host-model CPU (the host CPU as the
 * hypervisor offers it): forbidden features the host has, and for `check='partial'` the
 * required features it lacks (virCPUCompare), refuse the start with libvirt's message.
 */
import type { DomainDef, HostModelCpu } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { type GuestCpu, x86CheckForbiddenFeatures, x86Compare, x86FullHostCpu } from '@qvirt/cpu';
import { guestHostModel, hostModelGuestCpu } from '../argv/sections/head-cpu-host.js';
import type { QemuContext } from '../context.js';

/** The domain's `<cpu>` as @qvirt/cpu reads a guest CPU. */
function guestCpuOf(cpu: NonNullable<DomainDef['cpu']>): GuestCpu {
  return {
    type: 'guest',
    ...(cpu.mode ? { mode: cpu.mode } : {}),
    ...(cpu.match ? { match: cpu.match } : {}),
    ...(cpu.check ? { check: cpu.check } : {}),
    ...(cpu.model?.value ? { model: cpu.model.value } : {}),
    ...(cpu.vendor ? { vendor: cpu.vendor } : {}),
    features: (cpu.feature ?? []).map((f) => ({
      name: f.name ?? '',
      ...(f.policy ? { policy: f.policy } : {}),
    })),
  };
}

/**
 * The checks of qemuProcessUpdateGuestCPU before the update: virCPUCheckForbiddenFeatures for
 * any CPU with checks on, virCPUCompare for a custom or host-model CPU with `check='partial'`,
 * both against the host-model CPU of the guest's emulator and virt type. Skipped when the host
 * description has no host-model CPU for the guest (nothing to compare with).
 */
function checkGuestCpu(def: DomainDef, ctx: QemuContext, hostModel: HostModelCpu): void {
  const cpu = def.cpu;
  if (!cpu || (cpu.check ?? 'none') === 'none') return;
  const mode = cpu.mode ?? 'custom';
  if (mode === 'custom' && !cpu.model?.value) return;
  // VIR_QEMU_CAPS_HOST_CPU_FULL: with KVM the host's own CPU plus what the host-model CPU
  // requires, else the host-model CPU
  const hostCpu = ctx.host?.cpu;
  const full = def.type === 'kvm' && hostCpu?.model ? x86FullHostCpu(hostCpu, hostModel) : hostModel;
  const guest = guestCpuOf(cpu);
  x86CheckForbiddenFeatures(guest, full);
  if (mode === 'host-passthrough' || mode === 'maximum') return;
  if (cpu.check === 'partial') x86Compare(full, guest, true);
}

/** TSC_TOLERANCE of qemu_process.c: 250 ppm. */
const TSC_TOLERANCE = 250;

/**
 * qemuProcessStartValidateTSC: a `<timer name='tsc' frequency=…>` outside 250 ppm of the host's
 * TSC frequency needs TSC scaling; refused when the host CPU says it has none (unknown scaling,
 * or an unknown host TSC, lets QEMU decide).
 */
export function validateTsc(def: DomainDef, ctx: QemuContext): void {
  const freq = def.clock?.timer?.find((t) => t.name === 'tsc' && (t.frequency ?? 0) > 0)?.frequency;
  if (!freq) return;
  const tsc = ctx.host?.cpu?.tsc;
  if (!tsc) return;
  const host = BigInt(tsc.frequency);
  const tolerance = (host * BigInt(TSC_TOLERANCE)) / 1000000n;
  const min = host - tolerance;
  const max = host + tolerance;
  const want = BigInt(freq);
  if (want >= min && want <= max) return;
  if (tsc.scaling !== 'no') return;
  throw virReportError(
    'CONFIG_UNSUPPORTED',
    'qemu',
    `Requested TSC frequency ${want} Hz is outside tolerance range ([${min}, ${max}] Hz) around host frequency ${host} Hz and TSC scaling is not supported by the host CPU`,
  );
}

export function updateGuestCpu(def: DomainDef, ctx: QemuContext): void {
  const cpu = def.cpu;
  const arch = def.os?.type?.arch ?? ctx.caps.arch;
  if (!cpu || (arch !== 'x86_64' && arch !== 'i686')) return;
  const b = { def, ctx };
  const hostModel = guestHostModel(b);
  if (!hostModel) return;
  checkGuestCpu(def, ctx, hostModel);
  const updated = hostModelGuestCpu(b);
  if (!updated) return;
  cpu.mode = 'custom';
  cpu.match = 'exact';
  cpu.model = {
    ...(cpu.model ?? {}),
    value: updated.model,
    fallback: 'forbid',
    ...(updated.vendorId ? { vendor_id: updated.vendorId } : {}),
  };
  cpu.feature = updated.features.map((f) => ({ name: f.name, ...(f.policy ? { policy: f.policy } : {}) }));
}
