/**
 * Domain-wide define-time validation: the QEMU driver's (qemuValidateDomainDef and the
 * qemuDomainDefPostParse checks in qemu_domain.c) and the generic one
 * (virDomainDefValidateInternal in domain_validate.c), with libvirt's messages.
 */
import type { DomainDef } from '@qvirt/core';
import { accelFor, findMachine, hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isQ35, isX86, machineOf, scaledToBytes } from '../../domain-util.js';
import { maxVcpus, parseCpuSet, plainError, unsupported, xmlError } from './validate-util.js';

const EMULATOR_DEFAULT = '/usr/bin/qemu-system-x86_64';

function emulatorOf(def: DomainDef): string {
  return def.devices?.emulator ?? EMULATOR_DEFAULT;
}

function archOf(def: DomainDef): string {
  return def.os?.type?.arch ?? 'x86_64';
}

/** The emulator runs the domain's virt type, arch and machine (qemuValidateDomainDef). */
export function checkEmulatorSupport(def: DomainDef, ctx: QemuContext): void {
  const osType = def.os?.type?.value ?? 'hvm';
  if (osType !== 'hvm')
    throw unsupported(`Emulator '${emulatorOf(def)}' does not support os type '${osType}'`);
  const arch = archOf(def);
  if (arch !== ctx.caps.arch && !(ctx.caps.arch === 'x86_64' && arch === 'i686'))
    throw unsupported(`Emulator '${emulatorOf(def)}' does not support arch '${arch}'`);
  if (def.type !== 'qemu' && !(def.type === 'kvm' && ctx.caps.machines.kvm.length > 0))
    throw unsupported(`Emulator '${emulatorOf(def)}' does not support virt type '${def.type}'`);
  const machine = machineOf(def);
  const m = findMachine(ctx.caps, accelFor(def.type), machine);
  if (machine !== '' && (!m || m.name !== machine))
    throw unsupported(`Emulator '${emulatorOf(def)}' does not support machine type '${machine}'`);
}

/** UEFI needs ACPI on x86; the BIOS serial console needs a serial port. */
export function checkFirmwareBasics(def: DomainDef): void {
  if (def.memtune?.min_guarantee) throw unsupported("Parameter 'min_guarantee' not supported by QEMU.");
  const oldStyleUefi = def.os?.loader?.type === 'pflash';
  if ((def.os?.firmware === 'efi' || oldStyleUefi) && isX86(def) && def.features?.acpi === undefined)
    throw unsupported('UEFI requires ACPI on this architecture');
  if (def.os?.bios?.useserial === 'yes' && !(def.devices?.serial ?? []).length)
    throw xmlError('need at least one serial port to use BIOS serial output');
}

/** `<cpu><maxphysaddr>` and `<cpu><cache>` (qemuValidateDomainDefCpu). */
export function checkCpu(def: DomainDef): void {
  const cpu = def.cpu;
  if (!cpu) return;
  const arch = archOf(def);
  if (cpu.maxphysaddr) {
    if (!isX86(def)) {
      throw unsupported(
        `CPU maximum physical address bits specification is not supported for '${arch}' architecture`,
      );
    }
    const { mode, bits } = cpu.maxphysaddr;
    if (mode === 'passthrough' && bits !== undefined) {
      throw unsupported(
        "CPU maximum physical address bits number specification cannot be used with mode='passthrough'",
      );
    }
    if (mode === 'emulate' && bits === undefined)
      throw unsupported("if using CPU maximum physical address mode='emulate', bits= must be specified too");
  }
  if (cpu.cache) {
    if (!isX86(def)) throw unsupported(`CPU cache specification is not supported for '${arch}' architecture`);
    const { mode, level } = cpu.cache;
    if (mode === 'emulate' && level !== 3)
      throw unsupported("CPU cache mode 'emulate' can only be used with level='3'");
    if (mode === 'passthrough') {
      if (cpu.mode !== 'host-passthrough' && cpu.mode !== 'maximum') {
        throw unsupported(
          "CPU cache mode 'passthrough' can only be used with 'host-passthrough' / 'maximum' CPUs",
        );
      }
    }
    if ((mode === 'passthrough' || mode === 'disable') && level !== undefined)
      throw unsupported(`unsupported CPU cache level for mode '${mode}'`);
  }
}

function numaCellCount(def: DomainDef): number {
  return def.cpu?.numa?.cell?.length ?? 0;
}

/** Memory hotplug needs guest NUMA (qemuDomainDefValidateMemoryHotplug). */
export function checkMemoryHotplug(def: DomainDef): void {
  const mems = def.devices?.memory ?? [];
  const hotplug = (def.maxMemory?.value ?? 0) > 0 && (def.maxMemory?.slots ?? 0) > 0;
  if (!hotplug) {
    if (mems.length)
      throw unsupported("cannot use/hotplug a memory device when domain 'maxMemory' is not defined");
    return;
  }
  if (numaCellCount(def) === 0)
    throw unsupported('At least one numa node has to be configured when enabling memory hotplug');
  const slots = def.maxMemory?.slots ?? 0;
  if (mems.length > slots)
    throw unsupported(`memory device count '${mems.length}' exceeds slots count '${slots}'`);
}

/** `<topology>` against `<vcpu>` and the machine's limit (qemuValidateDomainVCpuTopology). */
export function checkVcpuTopology(def: DomainDef, ctx: QemuContext): void {
  const vcpus = maxVcpus(def);
  if (vcpus === 0 || def.vcpu?.current === 0) throw unsupported('Domain requires at least 1 vCPU');
  const m = findMachine(ctx.caps, accelFor(def.type), machineOf(def));
  if (m && m.maxCpus > 0 && vcpus > m.maxCpus)
    throw unsupported(`Maximum CPUs greater than specified machine type limit ${m.maxCpus}`);
  const topo = def.cpu?.topology;
  if (topo && hasFlag(ctx.caps, 'query-hotpluggable-cpus')) {
    const total = (topo.sockets ?? 0) * (topo.dies ?? 1) * (topo.cores ?? 0) * (topo.threads ?? 0);
    if (total !== vcpus) throw unsupported("CPU topology doesn't match maximum vcpu count");
  }
}

/** `<features>` that belong to other architectures or machines (qemuValidateDomainDefFeatures). */
export function checkFeatures(def: DomainDef, ctx: QemuContext): void {
  const f = def.features;
  if (!f) return;
  const arch = archOf(def);
  const machine = machineOf(def);
  const notFor = (name: string) =>
    unsupported(
      `The '${name}' feature is not supported for architecture '${arch}' or machine type '${machine}'`,
    );
  if (f.ioapic && !isX86(def)) throw notFor('ioapic');
  const pseries = machine.startsWith('pseries');
  for (const name of ['hpt', 'htm', 'nested-hv', 'ccf-assist', 'cfpc', 'sbbc', 'ibs'] as const) {
    if (f[name] !== undefined && !pseries) throw notFor(name);
  }
  if (f.gic && !(arch === 'aarch64' || arch === 'armv7l')) throw notFor('gic');
  if (f.vmcoreinfo?.state === 'on' && !hasFlag(ctx.caps, 'vmcoreinfo'))
    throw unsupported('vmcoreinfo is not available with this QEMU binary');
  if (f.apic?.eoi !== undefined && !isX86(def)) {
    throw unsupported(
      `The 'eoi' attribute of the 'apic' feature is not supported for architecture '${arch}' or machine type '${machine}'`,
    );
  }
  if (f.pvspinlock && !isX86(def)) throw notFor('pvspinlock');
  if (f.hyperv && !isX86(def)) {
    throw unsupported(
      `Hyperv features are not supported for architecture '${arch}' or machine type '${machine}'`,
    );
  }
  if (f.tcg && def.type !== 'qemu')
    throw unsupported(`TCG features are incompatible with domain type '${def.type}'`);
}

/** `<smm><tseg>` (qemuDomainDefTsegPostParse). */
export function checkTseg(def: DomainDef, ctx: QemuContext): void {
  const smm = def.features?.smm;
  if (smm?.state !== 'on' || !smm.tseg) return;
  if (!isQ35(def)) throw unsupported('SMM TSEG is only supported with q35 machine type');
  if (!hasFlag(ctx.caps, 'mch.extended-tseg-mbytes'))
    throw unsupported('Setting TSEG size is not supported with this QEMU binary');
  const bytes = scaledToBytes(smm.tseg.value ?? 0, smm.tseg.unit, 'MiB') ?? 0n;
  if (bytes % (1n << 20n) !== 0n) throw unsupported('SMM TSEG size must be divisible by 1 MiB');
}

/** `<launchSecurity>` needs the QEMU's support (qemuValidateDomainDef). */
export function checkLaunchSecurity(def: DomainDef, ctx: QemuContext): void {
  const sec = def.launchSecurity;
  if (!sec) return;
  if (sec.type === 'sev') {
    if (!hasFlag(ctx.caps, 'sev-guest'))
      throw unsupported('SEV launch security is not supported with this QEMU binary');
    if (sec.kernelHashes !== undefined && !hasFlag(ctx.caps, 'sev-guest-kernel-hashes'))
      throw unsupported('SEV measured direct kernel boot is not supported with this QEMU binary');
  } else if (sec.type === 's390-pv') {
    if (!hasFlag(ctx.caps, 'confidential-guest-support') || !hasFlag(ctx.caps, 's390-pv-guest'))
      throw unsupported('S390 PV launch security is not supported with this QEMU binary');
  }
}

/** Secure boot limits (qemuValidateDomainDefBoot). */
export function checkSecureBoot(def: DomainDef): void {
  const loader = def.os?.loader;
  if (loader?.secure !== 'yes') return;
  if (!isQ35(def)) throw unsupported('Secure boot is supported with q35 machine types only');
  if (archOf(def) !== 'x86_64') throw unsupported('Secure boot is supported for x86_64 architecture only');
  if (def.os?.firmware === undefined && def.features?.smm?.state !== 'on')
    throw unsupported('Secure boot requires SMM feature enabled');
}

// ---------------------------------------------------------------------------------------------
// virDomainDefValidateInternal (domain_validate.c)

/** Hugepage sizes and node sets (virDomainDefMemtuneValidate). */
export function checkHugepages(def: DomainDef): void {
  const pages = def.memoryBacking?.hugepages?.page ?? [];
  const ncells = numaCellCount(def);
  const entries = pages.map((p) => {
    let nodes = p.nodeset === undefined ? undefined : parseCpuSet(p.nodeset);
    // Without guest NUMA a nodeset of just node 0 means the whole guest (virDomainDefPostParseMemtune).
    if (ncells === 0 && nodes && nodes.size === 1 && nodes.has(0)) nodes = undefined;
    const kib = p.size === undefined ? 0n : ((scaledToBytes(p.size, p.unit) ?? 0n) + 1023n) / 1024n;
    return { nodes, kib };
  });
  for (let i = 0; i < entries.length; i++) {
    const a = entries[i]!;
    for (let j = 0; j < i; j++) {
      const b = entries[j]!;
      if (a.nodes && b.nodes && [...a.nodes].some((n) => b.nodes!.has(n))) {
        throw plainError(`nodeset attribute of hugepages of sizes ${a.kib} and ${b.kib} intersect`);
      }
      if (!a.nodes && !b.nodes) throw plainError(`two master hugepages detected: ${a.kib} and ${b.kib}`);
    }
    if (!a.nodes) continue;
    const beyond = [...a.nodes].sort((x, y) => x - y).find((n) => n > ncells - 1);
    if (beyond !== undefined) throw plainError(`hugepages: node ${beyond} not found`);
  }
}

/** `<bootmenu timeout>` and `<bios rebootTimeout>` ranges (virDomainDefBootValidate). */
export function checkBootMenu(def: DomainDef): void {
  const t = def.os?.bootmenu?.timeout;
  if (typeof t === 'number' && t > 65535)
    throw unsupported('invalid value for boot menu timeout, must be in range [0,65535]');
  const r = def.os?.bios?.rebootTimeout;
  if (r !== undefined && (r < -1 || r > 65535))
    throw unsupported('invalid value for rebootTimeout, must be in range [-1,65535]');
}

/** Firmware autoselection against a manual `<loader>`/`<nvram>` (virDomainDefOSValidate). */
export function checkOsFirmware(def: DomainDef): void {
  const os = def.os;
  if (!os) return;
  const loaderEl = os.loader;
  const nvramEl = os.nvram;
  const hasLoader = loaderEl !== undefined || nvramEl !== undefined;
  const path = loaderEl?.value;
  const nvram = nvramEl !== undefined && (nvramEl.value !== undefined || nvramEl.source !== undefined);
  const template = nvramEl?.template;
  // A loader path without a type is a ROM (virDomainDefPostParseOs).
  const type = loaderEl?.type ?? (path !== undefined ? 'rom' : undefined);
  if (os.firmware) {
    if (!hasLoader) return;
    if (loaderEl?.readonly !== undefined)
      throw plainError(
        "loader attribute 'readonly' cannot be specified when firmware autoselection is enabled",
      );
    if (type !== undefined)
      throw plainError("loader attribute 'type' cannot be specified when firmware autoselection is enabled");
    if (path !== undefined)
      throw plainError('loader path cannot be specified when firmware autoselection is enabled');
    if (template !== undefined)
      throw plainError(
        "nvram attribute 'template' cannot be specified when firmware autoselection is enabled",
      );
    if (loaderEl?.secure === 'no')
      throw plainError(
        "loader attribute 'secure' cannot be specified when firmware autoselection is enabled",
      );
    if (nvram && os.firmware !== 'efi')
      throw plainError(`firmware type '${os.firmware}' does not support nvram`);
  } else {
    if (os.firmwareFeatures)
      throw plainError(
        'cannot use feature-based firmware autoselection when firmware autoselection is disabled',
      );
    if (!hasLoader) return;
    if (path === undefined) throw plainError('no loader path specified and firmware auto selection disabled');
  }
  if (loaderEl?.stateless === 'yes') {
    if (template !== undefined) throw plainError('NVRAM template is not permitted when loader is stateless');
    if (nvram) throw plainError('NVRAM is not permitted when loader is stateless');
  } else if (loaderEl?.stateless === 'no') {
    if (!os.firmware) {
      if (type !== 'pflash') throw plainError('Only pflash loader type permits NVRAM');
    } else if (os.firmware !== 'efi') {
      throw plainError('Only EFI firmware permits NVRAM');
    }
  }
}
