import type { DomainDef } from '@qvirt/core';

type CpuDef = NonNullable<DomainDef['cpu']>;

import { virReportError } from '@qvirt/core';
import { accelFor, findMachine, hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isX86 } from '../../domain-util.js';
import { usesI386Binary } from './general-arch.js';

/**
 * What libvirt's CPU parser (virCPUDefParseXML) and formatter (virCPUDefFormatBufFull) make of a
 * guest `<cpu>`: mode defaults to custom, match to exact, the model's fallback to allow, feature
 * policies to require, topology dies to 1; host-passthrough and maximum CPUs keep no model;
 * a `<cpu>` that says nothing is dropped.
 */
export function cpuCanonical(def: DomainDef): void {
  const cpu = def.cpu;
  if (!cpu) return;
  cpu.mode ??= 'custom';
  if (cpu.migratable !== undefined && cpu.mode !== 'host-passthrough' && cpu.mode !== 'maximum') {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'domain',
      "Attribute migratable is only allowed for 'host-passthrough' / 'maximum' CPU mode",
    );
  }
  const passthrough = cpu.mode === 'host-passthrough' || cpu.mode === 'maximum';
  if (cpu.model) {
    const { value, vendor_id } = cpu.model;
    if (vendor_id !== undefined && !passthrough) {
      if (vendor_id.length !== 12)
        throw virReportError('XML_ERROR', 'domain', 'vendor_id must be exactly 12 characters long');
      if (vendor_id.includes(',')) throw virReportError('XML_ERROR', 'domain', 'vendor id is invalid');
    }
    if (cpu.vendor !== undefined && value === undefined)
      throw virReportError('XML_ERROR', 'domain', 'CPU vendor specified without CPU model');
    if (passthrough || (value === undefined && vendor_id === undefined)) {
      // The formatter writes a model only for custom and host-model CPUs.
      if (passthrough || value === undefined) delete cpu.model;
    } else {
      cpu.model = {
        ...(value !== undefined ? { fallback: cpu.model.fallback ?? 'allow' } : {}),
        ...(vendor_id !== undefined ? { vendor_id } : {}),
        ...(value !== undefined ? { value } : {}),
      };
    }
  } else if (cpu.vendor !== undefined) {
    throw virReportError('XML_ERROR', 'domain', 'CPU vendor specified without CPU model');
  }
  if (passthrough) delete cpu.vendor;
  if (cpu.feature?.length && !cpu.model?.value && cpu.mode === 'custom') {
    throw virReportError('XML_ERROR', 'domain', 'Non-empty feature list specified without CPU model');
  }
  if (cpu.feature) {
    const seen = new Set<string>();
    cpu.feature = cpu.feature.map((f) => {
      if (!f.name) throw virReportError('XML_ERROR', 'domain', 'Invalid CPU feature name');
      if (seen.has(f.name)) {
        throw virReportError('XML_ERROR', 'domain', `CPU feature '${f.name}' specified more than once`);
      }
      seen.add(f.name);
      return { policy: f.policy ?? 'require', name: f.name };
    });
  }
  if (cpu.topology) {
    const { sockets, dies, cores, threads } = cpu.topology;
    for (const [name, v] of [
      ['sockets', sockets],
      ['cores', cores],
      ['threads', threads],
    ] as const) {
      if (v === undefined)
        throw virReportError(
          'XML_ERROR',
          'domain',
          `Missing required attribute '${name}' in element 'topology'`,
        );
      if (v === 0) {
        throw virReportError(
          'XML_ERROR',
          'domain',
          `Invalid value for attribute '${name}' in element 'topology': Zero is not permitted`,
        );
      }
    }
    cpu.topology = { sockets, dies: dies ?? 1, cores, threads };
  }
  if (cpu.cache?.level !== undefined && (cpu.cache.level < 1 || cpu.cache.level > 3))
    throw virReportError('XML_ERROR', 'domain', 'invalid CPU cache level, must be in range [1,3]');
}

/** Whether libvirt would print nothing for this `<cpu>` (a custom CPU without content). */
function cpuIsEmpty(cpu: CpuDef): boolean {
  return (
    cpu.mode === 'custom' &&
    !cpu.model &&
    !cpu.topology &&
    !cpu.cache &&
    !cpu.maxphysaddr &&
    !cpu.feature?.length &&
    !cpu.numa?.cell?.length
  );
}

/** The machine type's default CPU model name, as the domain's QEMU binary reports it. */
function machineDefaultCpu(def: DomainDef, ctx: QemuContext): string | undefined {
  const machine = findMachine(ctx.caps, accelFor(def.type ?? ''), def.os?.type?.machine ?? '');
  const qom = machine?.defaultCPU;
  if (!qom) return undefined;
  const model = ctx.caps.cpuModels[accelFor(def.type ?? '')].find((m) => m.typename === qom)?.name;
  const name = model ?? qom.replace(/-x86_64-cpu$|-i386-cpu$/, '');
  // qemu-system-i386 builds its PC machines around qemu32 where the 64-bit binary uses qemu64.
  return usesI386Binary(def) && name === 'qemu64' ? 'qemu32' : name;
}

/**
 * x86 guests without a CPU model get the machine type's default CPU, written as a custom model
 * with checks off (qemuDomainDefSetDefaultCPU).
 */
export function defaultCpuModel(def: DomainDef, ctx: QemuContext): void {
  if (!isX86(def)) return;
  if (def.cpu && (def.cpu.mode !== 'custom' || def.cpu.model?.value)) return;
  const model = machineDefaultCpu(def, ctx);
  if (!model) return;
  if (model === 'host') {
    if (def.type !== 'kvm') {
      throw virReportError(
        'INTERNAL_ERROR',
        'qemu',
        'QEMU reports invalid default CPU model "host" for non-kvm domain virt type',
      );
    }
    def.cpu = { ...def.cpu, mode: 'host-passthrough' };
    return;
  }
  const vendorId = def.cpu?.model?.vendor_id;
  def.cpu = {
    ...def.cpu,
    mode: 'custom',
    match: 'exact',
    check: 'none',
    model: { fallback: 'forbid', ...(vendorId !== undefined ? { vendor_id: vendorId } : {}), value: model },
  };
}

/**
 * qemuDomainDefCPUPostParse: host-passthrough CPUs are migratable by default when QEMU can say
 * so, and the check mode follows the CPU mode (none for host-passthrough, maximum and TCG custom
 * CPUs, partial otherwise). A CPU that only gives topology keeps no attributes.
 */
export function cpuPostParse(def: DomainDef, ctx: QemuContext): void {
  const cpu = def.cpu;
  if (!cpu) return;
  if (cpu.mode === 'host-passthrough' && cpu.migratable === undefined) {
    if (hasFlag(ctx.caps, 'cpu.migratable') && !usesI386Binary(def)) cpu.migratable = 'on';
    else if (isX86(def)) cpu.migratable = 'off';
  }
  if (cpu.mode === 'custom' && !cpu.model?.value) {
    if (cpu.check !== undefined)
      throw virReportError('CONFIG_UNSUPPORTED', 'domain', 'check attribute specified for CPU with no model');
    // Only topology (or cache): the formatter writes no attributes.
    delete cpu.match;
    if (cpuIsEmpty(cpu)) delete def.cpu;
    else delete cpu.mode;
    return;
  }
  if (cpu.mode === 'custom') cpu.match ??= 'exact';
  else delete cpu.match;
  if (cpu.check === undefined) {
    switch (cpu.mode) {
      case 'host-passthrough':
      case 'maximum':
        cpu.check = 'none';
        break;
      case 'host-model':
        cpu.check = 'partial';
        break;
      default:
        cpu.check = def.type === 'qemu' ? 'none' : 'partial';
    }
  }
}
