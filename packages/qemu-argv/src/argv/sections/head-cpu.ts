/**
 * The `-cpu` argument (libvirt's qemuBuildCpuCommandLine and qemuBuildCpuModelArgStr): the model
 * (or `host`/`max`) with its features, then paravirtual timers, KVM and Hyper-V enlightenments,
 * PMU, cache and physical address bits.
 */

import { HYPERV_FEATURES, X86_FEATURE_TO_QEMU } from '../../libvirt-names.js';
import type { Build } from '../build.js';
import { filterX86Features, type GuestCpuModel, guestHostModel, hostModelGuestCpu } from './head-cpu-host.js';
import { binaryHasFlag, unsupported } from './head-util.js';

function archOf(b: Build): string {
  return b.def.os?.type?.arch ?? b.ctx.caps.arch;
}

function isX86(arch: string): boolean {
  return arch === 'x86_64' || arch === 'i686';
}

/** virQEMUCapsGuestIsNative: the guest runs on the host's own architecture. */
function isNative(host: string, guest: string): boolean {
  return (
    host === guest || (host === 'x86_64' && guest === 'i686') || (host === 'aarch64' && guest === 'armv7l')
  );
}

/**
 * virQEMUCapsIsCPUModeSupported, checked when the guest CPU is prepared for start
 * (qemuProcessUpdateGuestCPU): host-passthrough needs hardware acceleration, maximum QEMU's
 * `max` CPU.
 */
function checkModeSupported(b: Build, mode: string): void {
  const type = b.def.type ?? 'qemu';
  const host = b.ctx.caps.arch;
  let ok = true;
  if (mode === 'host-passthrough') ok = (type === 'kvm' || type === 'hvf') && isNative(host, host);
  else if (mode === 'maximum') ok = b.ctx.caps.flags.has('cpu-max');
  else if (mode === 'host-model' && b.ctx.host?.hostModels && isX86(archOf(b)))
    ok = guestHostModel(b) !== undefined;
  if (!ok) {
    throw unsupported(
      `CPU mode '${mode}' for ${archOf(b)} ${type} domain on ${host} host is not supported by hypervisor`,
    );
  }
}

function modelArgument(b: Build): string {
  const c = b.def.cpu!;
  const arch = archOf(b);
  checkModeSupported(b, c.mode ?? 'custom');
  const fromHost = isX86(arch) ? hostModelGuestCpu(b) : undefined;
  if (fromHost) return modelWithFeatures(arch, fromHost);
  let out: string;
  switch (c.mode ?? 'custom') {
    case 'host-passthrough':
    case 'maximum':
      out = c.mode === 'maximum' ? 'max' : 'host';
      if (c.migratable && binaryHasFlag(b, 'cpu.migratable')) out += `,migratable=${c.migratable}`;
      break;
    case 'host-model':
      if (arch === 'ppc64' || arch === 'ppc64le') out = 'host';
      else {
        // libvirt replaces host-model by the host's CPU model at start; that needs host CPU data.
        throw unsupported(`CPU mode 'host-model' needs the host CPU description (${arch})`);
      }
      break;
    default:
      out = c.model?.value ?? '';
  }
  return modelWithFeatures(arch, {
    model: out,
    vendorId: c.model?.vendor_id,
    features: (c.feature ?? []).map((f) => ({ name: f.name ?? '', policy: f.policy })),
  });
}

/** qemuBuildCpuModelArgStr: the model, `vendor=`, then each feature on or off in order. */
function modelWithFeatures(arch: string, cpu: GuestCpuModel): string {
  let out = cpu.model;
  if (cpu.vendorId) out += `,vendor=${cpu.vendorId}`;
  for (const f of isX86(arch) ? filterX86Features(cpu.features) : cpu.features) {
    const name = (isX86(arch) ? X86_FEATURE_TO_QEMU[f.name] : undefined) ?? f.name;
    if (f.policy === 'force' || f.policy === 'require' || f.policy === undefined) out += `,${name}=on`;
    else if (f.policy === 'disable' || f.policy === 'forbid') out += `,${name}=off`;
  }
  return out;
}

/** The whole `-cpu` value, or undefined when QEMU's default CPU is right. */
export function cpuArgument(b: Build): string | undefined {
  const def = b.def;
  const arch = archOf(b);
  const c = def.cpu;
  let model = '';
  if (c && ((c.mode ?? 'custom') !== 'custom' || c.model?.value)) {
    model = modelArgument(b);
  } else {
    const emulator = def.devices?.emulator ?? b.ctx.caps.emulator;
    if (arch === 'i686' && (emulator.includes('kvm') || emulator.includes('x86_64'))) model = 'qemu32';
  }

  let flags = '';
  for (const t of def.clock?.timer ?? []) {
    switch (t.name) {
      case 'kvmclock':
        if (t.present !== undefined) flags += `,kvmclock=${t.present === 'yes' ? 'on' : 'off'}`;
        break;
      case 'hypervclock':
        if (t.present === 'yes') flags += ',hv-time=on';
        break;
      case 'tsc':
        if ((t.frequency ?? 0) > 0) flags += `,tsc-frequency=${t.frequency}`;
        break;
      case 'armvtimer':
        if (t.tickpolicy === 'delay') flags += ',kvm-no-adjvtime=off';
        else if (t.tickpolicy === 'discard') flags += ',kvm-no-adjvtime=on';
        break;
      default:
        break;
    }
  }
  const f = def.features;
  if (f?.apic?.eoi) flags += `,kvm-pv-eoi=${f.apic.eoi}`;
  if (f?.pvspinlock?.state) flags += `,kvm-pv-unhalt=${f.pvspinlock.state}`;
  const hv = f?.hyperv;
  if (hv) {
    if (hv.mode === 'passthrough') flags += ',hv-passthrough=on';
    for (const name of HYPERV_FEATURES) {
      const feat = hv[name] as { state?: string; retries?: number; value?: string } | undefined;
      if (feat?.state !== 'on') {
        continue;
      }
      if (name === 'spinlocks') flags += `,hv-spinlocks=0x${(feat.retries ?? 0).toString(16)}`;
      else if (name === 'vendor_id') flags += `,hv-vendor-id=${feat.value ?? ''}`;
      else {
        flags += `,hv-${name}=on`;
        if (name === 'stimer' && hv.stimer?.direct?.state === 'on') flags += ',hv-stimer-direct=on';
      }
    }
  }
  if ((def.devices?.panic ?? []).some((p) => p.model === 'hyperv')) flags += ',hv-crash';
  const kvm = f?.kvm;
  if (kvm) {
    if (kvm.hidden?.state === 'on') flags += ',kvm=off';
    if (kvm['hint-dedicated']?.state === 'on') flags += ',kvm-hint-dedicated=on';
    if (kvm['poll-control']?.state === 'on') flags += ',kvm-poll-control=on';
    if (kvm['pv-ipi']?.state === 'off') flags += ',kvm-pv-ipi=off';
  }
  if (f?.pmu?.state && arch !== 'ppc64' && arch !== 'ppc64le') flags += `,pmu=${f.pmu.state}`;
  if (c?.cache?.mode) {
    let hostOff = false;
    let l3Off = false;
    if (c.cache.mode === 'emulate') {
      flags += ',l3-cache=on';
      hostOff = true;
    } else if (c.cache.mode === 'passthrough') {
      flags += ',host-cache-info=on';
      l3Off = true;
    } else {
      hostOff = true;
      l3Off = true;
    }
    const cacheFlag = binaryHasFlag(b, 'cpu-cache');
    if (hostOff && (c.mode === 'host-passthrough' || c.mode === 'maximum') && cacheFlag) {
      flags += ',host-cache-info=off';
    }
    if (l3Off && cacheFlag) flags += ',l3-cache=off';
  }
  if (c?.maxphysaddr?.mode === 'passthrough') flags += ',host-phys-bits=on';
  else if (c?.maxphysaddr?.mode === 'emulate') flags += `,phys-bits=${c.maxphysaddr.bits ?? 0}`;

  if (flags && !model) {
    if (arch === 'i686') model = 'qemu32';
    else if (arch === 'x86_64') model = 'qemu64';
    else throw unsupported(`CPU flags requested but can't determine default CPU for arch ${arch}`);
  }
  if (!model) return undefined;
  return model + flags;
}
