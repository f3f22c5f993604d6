/**
 * The description of one QEMU binary that conversion works from: version, capability flags,
 * machine types (with aliases, defaults and CPU limits) and CPU models per accelerator. The
 * on-disk form is libvirt's capabilities cache format (`<qemuCaps>`), so the checked-in QEMU 7.2
 * snapshot and a live probe by the host prober are read the same way.
 */
import { parseXml, virReportError, type XmlElement } from '@qvirt/core';

export type Accel = 'kvm' | 'tcg';

export interface MachineType {
  name: string;
  alias?: string;
  maxCpus: number;
  isDefault: boolean;
  hotplugCpus: boolean;
  /** QOM type name of the machine's default CPU, e.g. `qemu64-x86_64-cpu`. */
  defaultCPU?: string;
  /** Id of the machine's RAM backend (`pc.ram`), when it has one. */
  defaultRAMid?: string;
  numaMemSupported: boolean;
  deprecated: boolean;
  acpi?: boolean;
}

export interface CpuModel {
  name: string;
  typename?: string;
  usable?: boolean;
  deprecated?: boolean;
}

export interface QemuCaps {
  emulator: string;
  /** `major * 1_000_000 + minor * 1_000 + micro`, as libvirt stores it. */
  version: number;
  arch: string;
  flags: ReadonlySet<string>;
  machines: Record<Accel, MachineType[]>;
  cpuModels: Record<Accel, CpuModel[]>;
}

const attr = (el: XmlElement, name: string): string | undefined => el.attributes[name];
const elements = (el: XmlElement, name: string): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
const text = (el: XmlElement, name: string): string | undefined => {
  const child = elements(el, name)[0];
  return child === undefined ? undefined : child.children.filter((c) => typeof c === 'string').join('');
};

export function parseQemuCapsXml(xml: string, source = 'qemuCaps'): QemuCaps {
  const root = parseXml(xml, source);
  if (root.name !== 'qemuCaps') {
    throw virReportError('XML_ERROR', 'capabilities', `${source}: expected <qemuCaps>, found <${root.name}>`);
  }
  const version = Number(text(root, 'version'));
  if (!Number.isInteger(version))
    throw virReportError('XML_ERROR', 'capabilities', `${source}: missing <version>`);
  const machines: Record<Accel, MachineType[]> = { kvm: [], tcg: [] };
  for (const m of elements(root, 'machine')) {
    const type = (attr(m, 'type') ?? 'kvm') as Accel;
    const name = attr(m, 'name');
    if (!name || !(type in machines)) continue;
    const alias = attr(m, 'alias');
    const defaultCPU = attr(m, 'defaultCPU');
    const defaultRAMid = attr(m, 'defaultRAMid');
    const acpi = attr(m, 'acpi');
    machines[type].push({
      name,
      ...(alias ? { alias } : {}),
      maxCpus: Number(attr(m, 'maxCpus') ?? 0),
      isDefault: attr(m, 'default') === 'yes',
      hotplugCpus: attr(m, 'hotplugCpus') === 'yes',
      ...(defaultCPU ? { defaultCPU } : {}),
      ...(defaultRAMid ? { defaultRAMid } : {}),
      numaMemSupported: attr(m, 'numaMemSupported') === 'yes',
      deprecated: attr(m, 'deprecated') === 'yes',
      ...(acpi ? { acpi: acpi === 'on' } : {}),
    });
  }
  const cpuModels: Record<Accel, CpuModel[]> = { kvm: [], tcg: [] };
  for (const c of elements(root, 'cpu')) {
    const type = (attr(c, 'type') ?? 'kvm') as Accel;
    const name = attr(c, 'name');
    if (!name || !(type in cpuModels)) continue;
    const usable = attr(c, 'usable');
    const typename = attr(c, 'typename');
    cpuModels[type].push({
      name,
      ...(typename ? { typename } : {}),
      ...(usable ? { usable: usable === 'yes' } : {}),
      ...(attr(c, 'deprecated') === 'yes' ? { deprecated: true } : {}),
    });
  }
  return {
    emulator: text(root, 'emulator') ?? '',
    version,
    arch: text(root, 'arch') ?? 'x86_64',
    flags: new Set(elements(root, 'flag').map((f) => attr(f, 'name') ?? '')),
    machines,
    cpuModels,
  };
}

export function hasFlag(caps: QemuCaps, flag: string): boolean {
  return caps.flags.has(flag);
}

/** The accelerator whose machine list applies to a domain type. */
export function accelFor(virtType: string): Accel {
  return virtType === 'kvm' ? 'kvm' : 'tcg';
}

/** A machine type by name or alias (libvirt's virQEMUCapsGetCanonicalMachine). */
export function findMachine(caps: QemuCaps, accel: Accel, name: string): MachineType | undefined {
  return caps.machines[accel].find((m) => m.name === name || m.alias === name);
}

export function defaultMachine(caps: QemuCaps, accel: Accel): MachineType | undefined {
  return caps.machines[accel].find((m) => m.isDefault);
}
