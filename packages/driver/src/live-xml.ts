/**
 * The live definition: the inactive one plus what a start adds (`id=`, device aliases, which
 * libvirt assigns before building the command line: qemuAssignDeviceAliases).
 */
import type { DomainDef } from '@qvirt/core';
import { assignAliases } from '@qvirt/qemu-argv';

export function withAliases(def: DomainDef): DomainDef {
  const live = structuredClone(def);
  assignAliases(live);
  return live;
}
