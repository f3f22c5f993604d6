/**
 * `-cpu MODEL,flags…` back to `<cpu>`, timers, `<features>` (KVM, Hyper-V, APIC EOI, PV
 * spinlocks, PMU) and the Hyper-V panic device: the reverse of ../argv/sections/head-cpu.ts.
 */
import { HYPERV_FEATURES, X86_FEATURE_TO_QEMU } from '../libvirt-names.js';
import { bad, type ModernState, num, type Obj } from './modern-util.js';

/** QEMU's spelling of libvirt's x86 feature names, reversed. */
const QEMU_TO_X86_FEATURE: Record<string, string> = Object.fromEntries(
  Object.entries(X86_FEATURE_TO_QEMU).map(([libvirt, qemu]) => [qemu, libvirt]),
);

const HYPERV_ORDER: readonly string[] = HYPERV_FEATURES;

export function importCpu(s: ModernState, value: string): void {
  const [model, ...flags] = value.split(',');
  if (!model) bad(`cannot parse CPU model '${value}'`);
  const cpu: Obj = {};
  const f: Obj = (s.def.features ??= {});
  const timers: Obj[] = [];
  const hv: Obj = {};
  let cacheEmulate = false;
  let cachePass = false;
  let cacheOff = 0;
  const feats: Obj[] = [];
  if (model === 'host') cpu.mode = 'host-passthrough';
  else if (model === 'max') cpu.mode = 'maximum';
  else if (model === 'qemu64' || model === 'qemu32') {
    // The PC machines' default CPU: libvirt's post-parse writes it when the XML has none.
    if (model === 'qemu32') s.def.cpuArch = 'i686';
    cpu.mode = 'custom';
    // qemu32 on a 64-bit binary with flags: libvirt's default there is qemu64, so it was named.
    if (model === 'qemu32' && flags.length) {
      cpu.match = 'exact';
      cpu.model = { value: model };
    }
  } else {
    cpu.mode = 'custom';
    cpu.match = 'exact';
    cpu.model = { value: model };
  }
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const name = eq < 0 ? flag : flag.slice(0, eq);
    const v = eq < 0 ? undefined : flag.slice(eq + 1);
    const on = v === 'on';
    switch (name) {
      case 'migratable':
        cpu.migratable = v;
        continue;
      case 'vendor':
        cpu.model = { ...cpu.model, vendor_id: v };
        continue;
      case 'kvmclock':
        timers.push({ name: 'kvmclock', present: on ? 'yes' : 'no' });
        continue;
      case 'hv-time':
        timers.push({ name: 'hypervclock', present: 'yes' });
        continue;
      case 'tsc-frequency':
        timers.push({ name: 'tsc', frequency: num(v, 'tsc-frequency') });
        continue;
      case 'kvm-no-adjvtime':
        timers.push({ name: 'armvtimer', tickpolicy: on ? 'discard' : 'delay' });
        continue;
      case 'kvm-pv-eoi':
        f.apic = { eoi: v };
        continue;
      case 'kvm-pv-unhalt':
        f.pvspinlock = { state: v };
        continue;
      case 'hv-passthrough':
        hv.mode = 'passthrough';
        continue;
      case 'hv-spinlocks':
        hv.spinlocks = { state: 'on', retries: num(v, 'hv-spinlocks') };
        continue;
      case 'hv-vendor-id':
        hv.vendor_id = { state: 'on', value: v };
        continue;
      case 'hv-stimer-direct':
        hv.stimer = { ...hv.stimer, state: 'on', direct: { state: 'on' } };
        continue;
      case 'hv-crash':
        (s.devices.panic ??= []).push({ model: 'hyperv' });
        continue;
      case 'kvm':
        if (v === 'off') f.kvm = { ...f.kvm, hidden: { state: 'on' } };
        continue;
      case 'kvm-hint-dedicated':
        f.kvm = { ...f.kvm, 'hint-dedicated': { state: v } };
        continue;
      case 'kvm-poll-control':
        f.kvm = { ...f.kvm, 'poll-control': { state: v } };
        continue;
      case 'kvm-pv-ipi':
        f.kvm = { ...f.kvm, 'pv-ipi': { state: v } };
        continue;
      case 'pmu':
        f.pmu = { state: v };
        continue;
      case 'l3-cache':
        if (on) cacheEmulate = true;
        else cacheOff++;
        continue;
      case 'host-cache-info':
        if (on) cachePass = true;
        else cacheOff++;
        continue;
      case 'host-phys-bits':
        cpu.maxphysaddr = { mode: 'passthrough' };
        continue;
      case 'phys-bits':
        cpu.maxphysaddr = { mode: 'emulate', bits: num(v, 'phys-bits') };
        continue;
      default:
        break;
    }
    if (name.startsWith('hv-') && name !== 'hv-') {
      const key = name.slice(3).replace(/-/g, '_');
      if (HYPERV_ORDER.includes(key)) {
        hv[key] = { ...hv[key], state: 'on' };
        continue;
      }
    }
    const feature = QEMU_TO_X86_FEATURE[name] ?? name;
    feats.push({ policy: v === 'off' ? 'disable' : 'require', name: feature });
  }
  if (feats.length && !cpu.model && cpu.mode === 'custom') {
    cpu.match = 'exact';
    cpu.model = { value: model };
  }
  if (cacheEmulate) cpu.cache = { level: 3, mode: 'emulate' };
  else if (cachePass) cpu.cache = { mode: 'passthrough' };
  else if (cacheOff > 0) cpu.cache = { mode: 'disable' };
  if (feats.length) cpu.feature = feats;
  if (timers.length) {
    const clock: Obj = (s.def.clock ??= {});
    clock.timer = [...(clock.timer ?? []), ...timers];
  }
  if (Object.keys(hv).length) {
    const ordered: Obj = hv.mode ? { mode: hv.mode } : {};
    for (const k of HYPERV_ORDER) if (hv[k]) ordered[k] = hv[k];
    f.hyperv = ordered;
  }
  // `qemu32`/`qemu64` with flags only: libvirt's default model, added because of the flags.
  s.def.cpu = { ...s.def.cpu, ...cpu };
}
