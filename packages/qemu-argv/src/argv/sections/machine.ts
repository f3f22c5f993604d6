import { accelFor, findMachine } from '../../caps/qemu-caps.js';
import { add, type Build } from '../build.js';
import { cpuArgument } from './head-cpu.js';
import { numaCells, numaHasHMAT, toKiB, unsupported } from './head-util.js';

/** The `-machine` properties taken from `<features>` (qemuAppendDomainFeaturesMachineParam). */
function featureProps(b: Build, parts: string[]): void {
  const f = b.def.features;
  if (!f) return;
  if (f.vmport?.state) parts.push(`vmport=${f.vmport.state}`);
  if (f.smm?.state) parts.push(`smm=${f.smm.state}`);
  if (f.gic && f.gic.version !== undefined) {
    if (!b.ctx.caps.flags.has('mach-virt.gic-version')) {
      if (f.gic.version !== '2')
        throw unsupported('gic-version option is not available with this QEMU binary');
    } else {
      parts.push(`gic-version=${f.gic.version}`);
    }
  }
  if (f.ioapic?.driver === 'qemu') parts.push('kernel_irqchip=split');
  else if (f.ioapic?.driver === 'kvm') parts.push('kernel_irqchip=on');
  if (f.hpt) {
    if (f.hpt.resizing) parts.push(`resize-hpt=${f.hpt.resizing}`);
    const max = toKiB(f.hpt.maxpagesize);
    if (max > 0n) parts.push(`cap-hpt-max-page-size=${max}k`);
  }
  if (f.htm?.state) parts.push(`cap-htm=${f.htm.state}`);
  if (f['nested-hv']?.state) parts.push(`cap-nested-hv=${f['nested-hv'].state}`);
  if (f['ccf-assist']?.state) parts.push(`cap-ccf-assist=${f['ccf-assist'].state}`);
  if (f.cfpc?.value) parts.push(`cap-cfpc=${f.cfpc.value}`);
  if (f.sbbc?.value) parts.push(`cap-sbbc=${f.sbbc.value}`);
  if (f.ibs?.value) parts.push(`cap-ibs=${f.ibs.value}`);
}

/** The memory-related `-machine` properties (qemuAppendDomainMemoryMachineParams). */
function memoryProps(b: Build, parts: string[]): void {
  const def = b.def;
  const dump = def.memory?.dumpCore ?? (b.ctx.conf.dumpGuestCore ? 'on' : 'off');
  parts.push(`dump-guest-core=${dump}`);
  if (def.memoryBacking?.nosharepages) parts.push('mem-merge=off');
  let nvdimm = false;
  let epc = 0;
  for (const m of def.devices?.memory ?? []) {
    if (m.model === 'nvdimm' && !nvdimm) {
      parts.push('nvdimm=on');
      nvdimm = true;
    } else if (m.model === 'sgx-epc') {
      const alias = m.alias?.name ?? `epc${epc}`;
      const node = m.target?.node ?? 0;
      parts.push(`sgx-epc.${epc}.memdev=mem${alias}`, `sgx-epc.${epc}.node=${Math.max(node, 0)}`);
      epc++;
    }
  }
  if (numaCells(def).length === 0) {
    const m = findMachine(b.ctx.caps, accelFor(def.type ?? ''), def.os?.type?.machine ?? '');
    if (m?.defaultRAMid) parts.push(`memory-backend=${m.defaultRAMid}`);
  }
}

/** `-machine TYPE,…` in libvirt's property order (qemuBuildMachineCommandLine). */
export function machine(b: Build): void {
  const def = b.def;
  const parts = [def.os?.type?.machine ?? '', 'usb=off'];
  for (const c of def.keywrap?.cipher ?? []) {
    if (c.state === undefined) continue;
    const name = `${c.name}-key-wrap`;
    if (!b.ctx.caps.flags.has(name)) throw unsupported(`${name} is not available with this QEMU binary`);
    parts.push(`${name}=${c.state}`);
  }
  featureProps(b, parts);
  if (def.devices?.iommu?.model === 'smmuv3') parts.push('iommu=smmuv3');
  memoryProps(b, parts);
  const sec = def.launchSecurity?.type;
  if (sec === 'sev') {
    parts.push(
      b.ctx.caps.flags.has('confidential-guest-support')
        ? 'confidential-guest-support=lsec0'
        : 'memory-encryption=lsec0',
    );
  } else if (sec === 's390-pv') {
    parts.push('confidential-guest-support=lsec0');
  }
  if (def.os?.loader?.type === 'pflash') {
    if (def.os.loader.value) parts.push('pflash0=libvirt-pflash0-format');
    if (hasNvram(b)) parts.push('pflash1=libvirt-pflash1-format');
  }
  if (numaHasHMAT(def)) parts.push('hmat=on');
  if (def.os?.bios?.useserial === 'yes') parts.push('graphics=off');
  for (const t of def.clock?.timer ?? []) {
    if (t.name === 'hpet' && t.present !== undefined && b.ctx.caps.flags.has('machine.hpet')) {
      parts.push(`hpet=${t.present === 'yes' ? 'on' : 'off'}`);
    }
  }
  add(b, '-machine', parts.join(','));
  accel(b);
}

/** Whether the domain has a UEFI variable store (libvirt's loader->nvram). */
export function hasNvram(b: Build): boolean {
  const nv = b.def.os?.nvram;
  return nv !== undefined && (nv.value !== undefined || nv.source !== undefined);
}

/** `-accel tcg[,tb-size=MiB]` / `-accel kvm[,dirty-ring-size=N]` (qemuBuildAccelCommandLine). */
function accel(b: Build): void {
  const def = b.def;
  const f = def.features;
  if (def.type === 'qemu') {
    const tb = toKiB(f?.tcg?.['tb-cache']);
    add(b, '-accel', tb > 0n ? `tcg,tb-size=${tb >> 10n}` : 'tcg');
  } else if (def.type === 'kvm') {
    const ring = f?.kvm?.['dirty-ring'];
    add(b, '-accel', ring?.state === 'on' ? `kvm,dirty-ring-size=${ring.size ?? 0}` : 'kvm');
  } else if (def.type === 'hvf') {
    add(b, '-accel', 'hvf');
  } else {
    add(b, '-accel', '');
  }
}

/** `-cpu MODEL,flags…`. */
export function cpu(b: Build): void {
  const arg = cpuArgument(b);
  if (arg !== undefined) add(b, '-cpu', arg);
}

/** SMM TSEG size (`-global mch.extended-tseg-mbytes`). */
export function tseg(b: Build): void {
  const t = b.def.features?.smm?.tseg;
  if (t?.value === undefined) return;
  const bytes = toKiB(t, 'MiB') * 1024n;
  add(b, '-global', `mch.extended-tseg-mbytes=${bytes >> 20n}`);
}

/** `<loader type='rom'>` is `-bios`; a secure pflash loader turns on the flash's secure mode. */
export function loader(b: Build): void {
  const l = b.def.os?.loader;
  if (!l) return;
  if (l.type === 'rom') add(b, '-bios', l.value ?? '');
  else if (l.type === 'pflash' && l.secure === 'yes') {
    add(b, '-global', 'driver=cfi.pflash01,property=secure,value=on');
  }
}
