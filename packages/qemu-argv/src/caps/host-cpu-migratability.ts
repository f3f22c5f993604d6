/**
 * Which host CPU features QEMU leaves out of a migratable CPU, from libvirt's capabilities cache
 * format: `<hostCPU>` lists the properties of QEMU's query-cpu-model-expansion of the host CPU,
 * each with `migratable='no'` when only the non-migratable expansion has it
 * (virQEMUCapsLoadHostCPUModelInfo). libvirt starts host-model guests without them.
 */
import { parseXml, type XmlElement } from '@qvirt/core';
import { X86_FEATURE_TO_QEMU } from '../libvirt-names.js';

const QEMU_TO_X86_FEATURE: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(X86_FEATURE_TO_QEMU).map(([libvirt, qemu]) => [qemu, libvirt]),
);

/** libvirt names of the non-migratable features of a `<qemuCaps>` document's host CPUs. */
export function nonMigratableHostCpuFeatures(capsXml: string, source = 'qemuCaps'): string[] {
  const root = parseXml(capsXml, source);
  const out = new Set<string>();
  const elements = (el: XmlElement, name: string) =>
    el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
  for (const hostCpu of elements(root, 'hostCPU')) {
    for (const p of elements(hostCpu, 'property')) {
      const name = p.attributes.name;
      if (name && p.attributes.migratable === 'no' && p.attributes.value !== 'false') {
        out.add(QEMU_TO_X86_FEATURE[name] ?? name);
      }
    }
  }
  return [...out];
}
