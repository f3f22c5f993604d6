/**
 * Printing a stored definition as `virsh dumpxml` does: without `--security-info`, libvirt
 * leaves out secrets the definition keeps (HTTP cookies of network disks, graphics passwords).
 */
import type { DomainDef } from '@qvirt/core';
import { formatDomainXML } from '@qvirt/core';

export interface FormatDefinitionOptions {
  /** `--security-info`: print secrets too. */
  secure?: boolean;
}

export function formatDefinition(def: DomainDef, options: FormatDefinitionOptions = {}): string {
  if (options.secure) return formatDomainXML(def);
  const view = structuredClone(def);
  for (const disk of view.devices?.disk ?? []) {
    for (
      let c: { source?: { cookies?: unknown }; backingStore?: unknown } | undefined = disk;
      c;
      c = c.backingStore as typeof c
    ) {
      if (c.source) delete c.source.cookies;
    }
  }
  for (const g of view.devices?.graphics ?? []) delete (g as { passwd?: unknown }).passwd;
  return formatDomainXML(view);
}
